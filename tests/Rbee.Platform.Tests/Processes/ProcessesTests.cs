using System.Diagnostics;
using System.Globalization;
using Rbee.Platform.Processes;

namespace Rbee.Platform.Tests.Processes;

public sealed class ExecutableSearchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-platform-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void OnPath_FindsTheFirstExecutable_SkippingDataFilesAndDirectories()
    {
        var first = Path.Combine(_dir, "a");
        var second = Path.Combine(_dir, "b");
        Directory.CreateDirectory(first);
        Directory.CreateDirectory(second);
        File.WriteAllText(Path.Combine(first, "engine"), "not a program");
        Directory.CreateDirectory(Path.Combine(first, "tool"));
        var program = Path.Combine(second, "engine");
        File.WriteAllText(program, "#!/bin/sh\n");
        File.SetUnixFileMode(program, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var path = $"{first}:{second}";
        Assert.Equal(program, ExecutableSearch.OnPath("engine", path));
        Assert.Null(ExecutableSearch.OnPath("tool", path));
        Assert.Null(ExecutableSearch.OnPath("missing", path));
        Assert.False(ExecutableSearch.IsExecutable(Path.Combine(first, "engine")));
    }

    [Fact]
    public void BesideOrOnPath_FallsBackToPath()
    {
        Assert.Equal("/bin/sh", ExecutableSearch.BesideOrOnPath("sh", "/nonexistent:/bin"));
        Assert.Null(ExecutableSearch.BesideOrOnPath("rbee-no-such-program", "/bin"));
    }
}

public sealed class DetachedProcessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-platform-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Output_IsAppendedToTheLog_AndStdinIsEmpty()
    {
        var log = Path.Combine(_dir, "out.log");
        File.WriteAllText(log, "before\n");
        var psi = DetachedProcess.StartInfo("/bin/sh", ["-c", "echo out; echo err >&2; cat; echo \"env=$RBEE_TEST_VALUE\""], log);
        psi.Environment["RBEE_TEST_VALUE"] = "42";
        using var process = Process.Start(psi)!;
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(0, process.ExitCode);
        Assert.Equal("before\nout\nerr\nenv=42\n", File.ReadAllText(log));
    }

    [Fact]
    public async Task TheProgram_RunsInItsOwnSession_UnderThePidItsParentSees()
    {
        Assert.NotNull(DetachedProcess.Setsid);
        var psi = DetachedProcess.StartInfo("/bin/sleep", ["30"], Path.Combine(_dir, "sleep.log"));
        using var process = Process.Start(psi)!;
        try
        {
            // The shim execs setsid, which execs the program: same pid, a new session led by it.
            var stat = await WaitForAsync(() =>
            {
                var s = File.ReadAllText($"/proc/{process.Id}/stat");
                return s.Contains("(sleep)", StringComparison.Ordinal) ? s : null;
            });
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // After ") ": state, ppid, pgrp, session.
            Assert.Equal(process.Id, int.Parse(fields[2], CultureInfo.InvariantCulture));
            Assert.Equal(process.Id, int.Parse(fields[3], CultureInfo.InvariantCulture));
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task ACgroupThatCannotBeEntered_EndsTheShim_BeforeTheProgramRuns()
    {
        var log = Path.Combine(_dir, "cg.log");
        var psi = DetachedProcess.StartInfo("/bin/echo", ["ran"], log, cgroupProcs: Path.Combine(_dir, "no-such-dir", "cgroup.procs"));
        using var process = Process.Start(psi)!;
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(DetachedProcess.CannotEnterCgroupExitCode, process.ExitCode);
        Assert.Contains("rbee: cannot enter cgroup", File.ReadAllText(log));
        Assert.DoesNotContain("ran", File.ReadAllText(log));
    }

    private static async Task<string> WaitForAsync(Func<string?> probe)
    {
        // The exec chain (sh → setsid → sleep) takes a few milliseconds; /proc has no event to await.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            if (probe() is { } value) return value;
            if (DateTime.UtcNow > until) throw new TimeoutException("the detached program did not appear under its pid within 10 s");
            await Task.Delay(10);
        }
    }
}

public sealed class SignalsTests
{
    [Fact]
    public async Task Send_ReachesALiveProcess_AndFailsForAGoneOne()
    {
        using var process = Process.Start(new ProcessStartInfo("/bin/sleep", "30") { UseShellExecute = false })!;
        Assert.True(Signals.IsAlive(process.Id));
        Assert.True(Signals.Send(process.Id, Signals.SIGTERM));
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.False(Signals.IsAlive(process.Id));
        Assert.False(Signals.Send(process.Id, Signals.SIGTERM));
    }
}

public sealed class ChildEnvironmentTests
{
    [Fact]
    public void RemoveSecrets_RemovesTheClusterTokenApiKeysAndHuggingFaceTokenInEveryForm_AndKeepsTheRest()
    {
        var env = new Dictionary<string, string?>
        {
            ["RBEE_CLUSTER_TOKEN"] = "s1",
            ["RBEE_ClusterToken"] = "s2",
            ["rbee_clustertoken"] = "s3",
            ["RBEE_CLUSTERTOKENFILE"] = "/root/.config/rbee/token",
            ["RBEE_Api__Keys__0"] = "sk-1",
            ["RBEE_API__KEYSFILE"] = "/etc/rbee/keys",
            ["RBEE_Api:Keys:1"] = "sk-2",
            ["RBEE_Api:KeysFile"] = "/etc/rbee/keys",
            ["HF_TOKEN"] = "hf_secret",
            ["HUGGING_FACE_HUB_TOKEN"] = "hf_secret",
            ["RBEE_Downloads__HuggingFaceToken"] = "hf_secret",
            ["RBEE_Hive__Port"] = "7836",
            ["RBEE_WORKER_ID"] = "w1",
            ["PATH"] = "/bin",
        };
        ChildEnvironment.RemoveSecrets(env);
        Assert.Equal(["PATH", "RBEE_Hive__Port", "RBEE_WORKER_ID"], env.Keys.Order(StringComparer.Ordinal));
    }
}
