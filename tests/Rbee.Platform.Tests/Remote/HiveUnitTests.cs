using System.Diagnostics;
using System.Globalization;
using Rbee.Platform.Remote;

namespace Rbee.Platform.Tests.Remote;

/// <summary>The systemd unit of a hive (<c>rbee hive install --supervisor systemd</c>): its text, its quoting, and systemd's
/// own verdict on it (<c>systemd-analyze verify</c>).</summary>
public sealed class HiveUnitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-unit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static HiveUnitSpec Spec(bool system = false, int systemd = 252, string home = "/home/ann") => new(
        Program: home + "/.local/lib/rbee/rbee-hive",
        Port: 7835,
        Home: home,
        Path: "/usr/local/bin:/usr/bin:/bin",
        ConfigHome: home + "/.config",
        StateHome: home + "/.local/state",
        SystemUnit: system,
        SystemdVersion: systemd);

    private static string[] Lines(string unit) => unit.Split('\n');

    [Fact]
    public void UserUnit_RunsTheInstalledHive_AsTheStartOverSshDoes_AndRestartsItOnFailure()
    {
        var lines = Lines(HiveUnit.Render(Spec()));

        Assert.Contains("ExecStart=/home/ann/.local/lib/rbee/rbee-hive --port 7835", lines);
        Assert.Contains("WorkingDirectory=/home/ann", lines);
        Assert.Contains("Environment=HOME=/home/ann PATH=/usr/local/bin:/usr/bin:/bin XDG_CONFIG_HOME=/home/ann/.config XDG_STATE_HOME=/home/ann/.local/state", lines);
        Assert.Contains("StandardOutput=append:/home/ann/.local/state/rbee/logs/rbee-hive.log", lines);
        Assert.Contains("StandardError=append:/home/ann/.local/state/rbee/logs/rbee-hive.log", lines);
        Assert.Contains("Restart=on-failure", lines);
        Assert.Contains("RestartSec=1", lines);
        Assert.Contains("StartLimitIntervalSec=0", lines);
        Assert.Contains("RestartPreventExitStatus=2", lines);
        // Workers outlive a restart of the hive: only the hive gets the stop signal.
        Assert.Contains("KillMode=process", lines);
        Assert.Contains("Delegate=yes", lines);
        // A worker killed for memory is not a reason to stop the hive.
        Assert.Contains("OOMPolicy=continue", lines);
        Assert.Contains("WantedBy=default.target", lines);
        // The user manager has no network-online.target.
        Assert.DoesNotContain(lines, l => l.Contains("network-online", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.StartsWith("ExecStop", StringComparison.Ordinal));
        // The log is rotated at the start, as the start over SSH does, at the same size.
        var rotate = Assert.Single(lines, l => l.StartsWith("ExecStartPre=-/bin/sh -c ", StringComparison.Ordinal));
        Assert.Contains("-gt 16777216", rotate, StringComparison.Ordinal);
        Assert.EndsWith("rbee-hive-log /home/ann/.local/state/rbee/logs/rbee-hive.log", rotate, StringComparison.Ordinal);
        Assert.Contains("$$1", rotate, StringComparison.Ordinal); // the shell's $1, not a systemd variable
    }

    [Fact]
    public void SystemUnit_WaitsForTheNetwork_AndStartsAtBoot()
    {
        var lines = Lines(HiveUnit.Render(Spec(system: true, home: "/root")));

        Assert.Contains("ExecStart=/root/.local/lib/rbee/rbee-hive --port 7835", lines);
        Assert.Contains("Wants=network-online.target", lines);
        Assert.Contains("After=network-online.target", lines);
        Assert.Contains("WantedBy=multi-user.target", lines);
        Assert.Contains("KillMode=process", lines);
    }

    [Theory]
    [InlineData(240, false)]
    [InlineData(242, false)]
    [InlineData(243, true)]
    public void OomPolicy_IsSetWhereSystemdHasIt(int version, bool set) =>
        Assert.Equal(set, Lines(HiveUnit.Render(Spec(systemd: version))).Contains("OOMPolicy=continue"));

    [Theory]
    [InlineData(252, false)]
    [InlineData(253, false)]
    [InlineData(254, true)]
    [InlineData(256, true)]
    public void RestartDelayGrows_WhereSystemdCanSayIt(int version, bool grows)
    {
        var lines = Lines(HiveUnit.Render(Spec(systemd: version)));

        Assert.Equal(grows, lines.Contains("RestartSteps=6"));
        Assert.Equal(grows, lines.Contains("RestartMaxDelaySec=60"));
        Assert.Contains("RestartSec=1", lines);
    }

    [Fact]
    public void Paths_AreQuotedBySystemdsRules()
    {
        var spec = Spec(home: "/home/a b/100%$x") with { Path = "/opt/\"q\"\\bin:/usr/bin" };
        var lines = Lines(HiveUnit.Render(spec));

        // The program: quoted as one word, % doubled, $ kept (systemd expands no variable in the program's path).
        Assert.Contains("ExecStart=\"/home/a b/100%%$x/.local/lib/rbee/rbee-hive\" --port 7835", lines);
        // Arguments: $ doubled too.
        Assert.EndsWith("rbee-hive-log \"/home/a b/100%%$$x/.local/state/rbee/logs/rbee-hive.log\"", Assert.Single(lines, l => l.StartsWith("ExecStartPre=", StringComparison.Ordinal)), StringComparison.Ordinal);
        // Environment=: quoted with C escapes, % doubled, $ kept (no variable expansion there).
        Assert.Contains("Environment=\"HOME=/home/a b/100%%$x\" \"PATH=/opt/\\\"q\\\"\\\\bin:/usr/bin\" " +
            "\"XDG_CONFIG_HOME=/home/a b/100%%$x/.config\" \"XDG_STATE_HOME=/home/a b/100%%$x/.local/state\"", lines);
        // Path settings: the rest of the line, only specifiers escaped.
        Assert.Contains("WorkingDirectory=/home/a b/100%%$x", lines);
        Assert.Contains("StandardOutput=append:/home/a b/100%%$x/.local/state/rbee/logs/rbee-hive.log", lines);
    }

    [Theory]
    [InlineData("relative/home")]
    [InlineData("/home/new\nline")]
    [InlineData("/home/ann's")] // systemd runs no program whose path has a quote or a backslash
    [InlineData("/home/back\\slash")]
    public void PathsAUnitCannotName_AreRefused(string home) =>
        Assert.Throws<ArgumentException>(() => HiveUnit.Render(Spec(home: home)));

    [Fact]
    public void Words_StayBareWhenNothingNeedsQuoting()
    {
        Assert.Equal("/bin/sh -c \"echo $$1; true\" x", HiveUnit.Command("/bin/sh", "-c", "echo $1; true", "x"));
        Assert.Equal("/p \"\" \"'a'\" b \";\"", HiveUnit.Command("/p", "", "'a'", "b", ";"));
        Assert.Equal("A=$B \"C=d e\"", HiveUnit.Assignments("A=$B", "C=d e"));
    }

    [Fact]
    public void DocsShowTheUnitAsItIsWritten()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "rbee.slnx"))) root = Path.GetDirectoryName(root.TrimEnd('/'))!;
        var docs = File.ReadAllText(Path.Combine(root, "docs", "cli.md"));
        var start = docs.IndexOf("```ini\n", docs.IndexOf("**systemd as supervisor.**", StringComparison.Ordinal), StringComparison.Ordinal) + "```ini\n".Length;
        var shown = docs[start..docs.IndexOf("```", start, StringComparison.Ordinal)];

        var written = string.Concat(HiveUnit.Render(Spec()).Split('\n').SkipWhile(l => l.StartsWith('#')).Select(l => l + "\n")).TrimEnd('\n') + "\n";
        Assert.Equal(written, shown);
    }

    /// <summary>
    /// systemd's own check of the unit, for this machine's systemd, with paths that need every kind of quoting: verify
    /// loads it as systemd would and checks that <c>ExecStart</c>'s program exists, so a quoting mistake fails here. This
    /// machine's PID 1 is not systemd, so no restart by systemd is shown here; <c>verify</c> needs no running manager.
    /// </summary>
    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SystemdAnalyzeVerify_AcceptsTheUnit_WithNoWarning(bool system)
    {
        const string analyze = "/usr/bin/systemd-analyze";
        Skip.IfNot(File.Exists(analyze), "systemd-analyze is not installed (package systemd); the unit is not verified by systemd here");
        var version = await SystemdVersionAsync(analyze);

        var home = Path.Combine(_dir, "home of ann 100%$x");
        var program = Path.Combine(home, ".local", "lib", "rbee", "rbee-hive");
        Directory.CreateDirectory(Path.GetDirectoryName(program)!);
        Directory.CreateDirectory(Path.Combine(home, ".local", "state", "rbee", "logs"));
        File.Copy("/bin/true", program);
        var spec = Spec(system, version, home);
        var unitDir = Path.Combine(_dir, "units");
        Directory.CreateDirectory(unitDir);
        var file = Path.Combine(unitDir, HiveUnit.Name);
        await File.WriteAllTextAsync(file, HiveUnit.Render(spec));

        var (code, output) = await RunAsync(analyze, system ? [] : ["--user"], "verify", file);
        Assert.True(code == 0 && output.Length == 0, $"systemd-analyze{(system ? "" : " --user")} verify (systemd {version}) exited {code}:\n{output}\n{HiveUnit.Render(spec)}");

        // And a unit naming a program that is not there fails the same check: the check has teeth.
        File.Delete(program);
        var (missing, why) = await RunAsync(analyze, system ? [] : ["--user"], "verify", file);
        Assert.True(missing != 0 && why.Contains("is not executable", StringComparison.Ordinal), $"verify passed a unit whose program is missing: {why}");
    }

    private async Task<int> SystemdVersionAsync(string analyze)
    {
        var (_, output) = await RunAsync(analyze, [], "--version");
        var first = output.Split('\n')[0].Split(' ');
        return int.Parse(first[1], CultureInfo.InvariantCulture);
    }

    private async Task<(int Code, string Output)> RunAsync(string program, string[] scope, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in scope.Concat(args)) psi.ArgumentList.Add(a);
        // A user manager's verify needs a runtime directory; one of the test's own, so none of this machine's is touched.
        var runtime = Path.Combine(_dir, "runtime");
        Directory.CreateDirectory(runtime);
        psi.Environment["XDG_RUNTIME_DIR"] = runtime;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, ((await stdout) + (await stderr)).Trim());
    }
}
