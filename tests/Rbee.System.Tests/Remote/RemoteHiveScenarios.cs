using System.Text.Json;
using Rbee.SystemTests.Infrastructure;
using Rbee.SystemTests.Infrastructure.MultiHost;
using Rbee.Testing;

namespace Rbee.SystemTests.Remote;

/// <summary>
/// Issue 14 on the multi-host test bed: the operator installs and starts a hive on another host over real SSH, a second
/// start is refused (never two hives), a SIGKILLed hive is restarted by the queen over SSH and comes back as a new
/// instance, a hive stopped on purpose stays stopped, and uninstall removes it. The hive runs as an unprivileged user
/// there, so it also proves the non-root layout (run directory in its home, process-group monitoring). The bed's hosts
/// share this machine's PID 1, which is not systemd: install's default (auto) picks the queen as supervisor there and
/// says why, and <c>--supervisor systemd</c> is refused in one line (the unit itself is checked by
/// <c>systemd-analyze verify</c> in Rbee.Platform.Tests; a restart by systemd cannot be shown here).
/// </summary>
[Trait("Category", "System")]
[Collection("System")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RemoteHiveScenarios
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(90);
    private readonly string _token = "bed-" + Guid.NewGuid().ToString("N");

    [SkippableFact]
    public async Task AHiveInstalledOverSsh_StartsOnce_IsRestartedByTheQueenAfterACrash_AndStaysStoppedWhenStopped()
    {
        var release = await ReleaseArtefacts.EnsureAsync();
        await using var bed = await TestBed.CreateAsync(hosts: 1);
        var host = bed.Host("hive-a");
        await using var queen = bed.StartQueen(_token);
        await Eventually.HoldsAsync("queen start", "the queen answers /v1/cluster in its namespace", Budget,
            async () => (await bed.QueenGetAsync("/v1/cluster", _token) is not null, "no answer"), () => queen.LogTail());

        // An alias the SSH config does not have: one line that says what to do.
        var unknown = await bed.RbeeAsync(_token, "hive", "start", "--host", "hive-zz");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("ssh hive-zz: unknown host; add 'Host hive-zz'", unknown.Stderr, StringComparison.Ordinal);

        // The bed's hosts share this machine's PID 1, which is not systemd: a systemd supervisor is refused in one line
        // before anything changes there, and the default (auto) picks the queen and says why.
        var lib = Path.Combine(host.Home, ".local", "lib", "rbee");
        var systemd = await bed.RbeeAsync(_token, "hive", "install", "--host", host.Alias, "--supervisor", "systemd");
        Assert.Equal(1, systemd.ExitCode);
        var refusal = Assert.Single(systemd.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.EndsWith($": {host.Alias} is not booted with systemd (no /run/systemd/system); use --supervisor queen (the queen restarts the hive over SSH)",
            refusal, StringComparison.Ordinal);
        Assert.False(Directory.Exists(lib), "a refused install changed the host");

        var install = await bed.RbeeAsync(_token, "hive", "install", "--host", host.Alias);
        Assert.True(install.ExitCode == 0, install.ToString());
        Assert.Contains($"{host.Alias}: supervisor: queen (auto: {host.Alias} is not booted with systemd (no /run/systemd/system); " +
            "the queen restarts the hive over SSH when it crashes)", install.Stdout, StringComparison.Ordinal);
        var managedFile = Path.Combine(bed.OperatorHome, ".local", "state", "rbee", "queen", "managed-hives.json");
        Assert.Contains("\"supervisor\": \"queen\"", await File.ReadAllTextAsync(managedFile), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(host.Home, ".config", "systemd", "user", "rbee-hive.service")), "a queen-supervised install wrote a unit");
        // The release programs went there: the Native AOT hive (no .NET libraries beside it), with its BUILD line.
        Assert.True(File.Exists(Path.Combine(lib, "rbee-hive")), install.ToString());
        Assert.False(File.Exists(Path.Combine(lib, "rbee-hive.dll")), "a framework-dependent hive was installed, not the release");
        Assert.Contains("rbee-hive\tNative AOT", await File.ReadAllTextAsync(Path.Combine(lib, "BUILD")), StringComparison.Ordinal);
        Assert.Contains(release, install.Stdout, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(host.Home, ".config", "rbee", "token")));

        var start = await bed.RbeeAsync(_token, "hive", "start", "--host", host.Alias);
        Assert.True(start.ExitCode == 0, start.ToString());
        var first = await WaitOnlineAsync(bed, host, previous: null, queen);

        var again = await bed.RbeeAsync(_token, "hive", "start", "--host", host.Alias);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already runs with pid", again.Stderr, StringComparison.Ordinal);
        var pids = await bed.PidsAsync(host, "rbee-hive");
        var pid = Assert.Single(pids);
        // Unprivileged there: its run directory is its own, never a /tmp/rbee another user made.
        Assert.True(Directory.Exists(Path.Combine(host.Home, ".local", "state", "rbee", "run")), "no run directory under the hive user's state");

        var status = await bed.RbeeAsync(_token, "hive", "status", "--host", host.Alias);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains($"{host.Alias}: rbee-hive running, pid {pid}", status.Stdout, StringComparison.Ordinal);
        Assert.Contains("queen: online", status.Stdout, StringComparison.Ordinal);
        Assert.Contains("systemd: no unit (started over SSH)", status.Stdout, StringComparison.Ordinal);
        var logs = await bed.RbeeAsync(_token, "hive", "logs", "--host", host.Alias, "-n", "50");
        Assert.True(logs.ExitCode == 0, logs.ToString());
        Assert.Contains("Now listening on", logs.Stdout, StringComparison.Ordinal);

        // An install over a running hive is an upgrade: stopped in restart mode, replaced, started again, one hive.
        var upgrade = await bed.RbeeAsync(_token, "hive", "install", "--host", host.Alias, "--supervisor", "queen");
        Assert.True(upgrade.ExitCode == 0, upgrade.ToString());
        Assert.Contains("upgrading: stopping it in restart mode", upgrade.Stdout, StringComparison.Ordinal);
        var upgraded = await WaitOnlineAsync(bed, host, previous: first, queen);
        pid = Assert.Single(await bed.PidsAsync(host, "rbee-hive"));
        Assert.Contains("SIGUSR1: stopping in restart mode", await File.ReadAllTextAsync(Path.Combine(host.Home, ".local", "state", "rbee", "logs", "rbee-hive.log")), StringComparison.Ordinal);

        Signals.Send(pid, Signals.SIGKILL);
        var second = await WaitOnlineAsync(bed, host, previous: upgraded, queen);
        Assert.NotEqual(upgraded, second);
        Assert.Single(await bed.PidsAsync(host, "rbee-hive"));
        var audit = await File.ReadAllLinesAsync(Path.Combine(bed.OperatorHome, ".local", "state", "rbee", "queen", "audit.log"));
        Assert.Contains(audit, l => l.Contains("\"actor\":\"queen\"", StringComparison.Ordinal) && l.Contains("\"action\":\"restart\"", StringComparison.Ordinal));

        var stop = await bed.RbeeAsync(_token, "hive", "stop", "--host", host.Alias);
        Assert.True(stop.ExitCode == 0, stop.ToString());
        Assert.Empty(await bed.PidsAsync(host, "rbee-hive"));
        await Eventually.HoldsAsync("after stop", "the queen sees hive-a offline", Budget, async () =>
        {
            var state = State(await bed.QueenGetAsync("/v1/cluster", _token), host.Alias);
            return (state.State == "offline", state.State ?? "absent");
        }, () => queen.LogTail());
        Assert.Contains("\"want_running\": false", await File.ReadAllTextAsync(managedFile), StringComparison.Ordinal);

        // The queen's shutdown stops the managed hive and verifies it on its host; a restarted queen still manages it.
        var restart = await bed.RbeeAsync(_token, "hive", "start", "--host", host.Alias);
        Assert.True(restart.ExitCode == 0, restart.ToString());
        await WaitOnlineAsync(bed, host, previous: second, queen);
        var shutdown = await bed.InQueenAsync(["curl", "-fsS", "--max-time", "60", "-X", "POST", "-H", $"Authorization: Bearer {_token}", bed.QueenUrl + "/v1/shutdown"]);
        // The whole report and the hive's own log when it fails: once, under the full suite's load, the hive accepted the
        // shutdown and was still running 10 s later (2026-12-04), and the cut-off assertion message did not say why.
        var hiveLog = Path.Combine(host.Home, ".local", "state", "rbee", "logs", "rbee-hive.log");
        Assert.True(shutdown.Stdout.Contains("exited (no rbee-hive runs there, checked over ssh)", StringComparison.Ordinal),
            $"{shutdown.Stdout}\n--- {hiveLog}, last lines:\n{(File.Exists(hiveLog) ? string.Join('\n', File.ReadLines(hiveLog).TakeLast(30)) : "(none)")}\n--- queen:\n{queen.LogTail()}");
        Assert.True(await queen.WaitForExitAsync(Budget), "the queen did not exit after its shutdown");
        Assert.Empty(await bed.PidsAsync(host, "rbee-hive"));
        Assert.Contains("\"want_running\": false", await File.ReadAllTextAsync(managedFile), StringComparison.Ordinal);
        await using var queen2 = bed.StartQueen(_token);
        await Eventually.HoldsAsync("queen restart", "the restarted queen answers", Budget,
            async () => (await bed.QueenGetAsync("/v1/cluster", _token) is not null, "no answer"), () => queen2.LogTail());

        var uninstall = await bed.RbeeAsync(_token, "hive", "uninstall", "--host", host.Alias);
        Assert.True(uninstall.ExitCode == 0, uninstall.ToString());
        Assert.False(Directory.Exists(Path.Combine(host.Home, ".local", "lib", "rbee")));
        Assert.DoesNotContain(host.Alias, await File.ReadAllTextAsync(managedFile), StringComparison.Ordinal);
    }

    /// <summary>Waits for the queen to list the host's hive online as an instance other than <paramref name="previous"/>.</summary>
    private async Task<string> WaitOnlineAsync(TestBed bed, TestHost host, string? previous, DaemonProcess queen)
    {
        string? instance = null;
        await Eventually.HoldsAsync("hive online", $"{host.Alias} online at the queen{(previous is null ? "" : " as a new instance")}", Budget, async () =>
        {
            var (state, id) = State(await bed.QueenGetAsync("/v1/cluster", _token), host.Alias);
            instance = id;
            return (state == "online" && id is not null && id != previous, $"{state ?? "absent"} {id}");
        }, () => queen.LogTail());
        return instance!;
    }

    private static (string? State, string? InstanceId) State(string? cluster, string hiveId)
    {
        if (cluster is null) return (null, null);
        foreach (var h in JsonDocument.Parse(cluster).RootElement.GetProperty("hives").EnumerateArray())
            if (h.GetProperty("hive_id").GetString() == hiveId)
                return (h.GetProperty("state").GetString(), h.TryGetProperty("instance_id", out var i) ? i.GetString() : null);
        return (null, null);
    }
}
