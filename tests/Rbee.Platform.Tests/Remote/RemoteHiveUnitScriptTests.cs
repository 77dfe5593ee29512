using System.Net;
using System.Net.Sockets;
using Rbee.Platform.Remote;

namespace Rbee.Platform.Tests.Remote;

/// <summary>
/// The scripts <see cref="RemoteHive"/> runs on a host whose hive has a systemd unit, run here through a stand-in for ssh
/// (the script runs locally, in a home of the test's own, as user "ann") against a stand-in <c>systemctl</c> that records
/// each call and starts a stand-in hive. What this proves is what our scripts ask of systemd and when: which calls, in which
/// order, and that restart mode signals the hive rather than stopping the unit. It shows nothing of what systemd does with
/// them (this machine's PID 1 is not systemd); <see cref="HiveUnitTests"/> has systemd check the unit itself.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RemoteHiveUnitScriptTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-remote-").FullName;
    private string Home => Path.Combine(_dir, "home");
    private string Stubs => Path.Combine(_dir, "stubs");
    private string UnitFile => Path.Combine(Home, ".config", "systemd", "user", HiveUnit.Name);
    private readonly RemoteHive _hive;
    private readonly int _port;

    public RemoteHiveUnitScriptTests()
    {
        Directory.CreateDirectory(Stubs);
        Directory.CreateDirectory(Path.Combine(Home, ".local", "lib", "rbee"));
        // ssh: the last argument is "sh -c '<script>'"; run it here, as the host's login shell would.
        Script(Path.Combine(_dir, "ssh"), $"""
            for a; do last=$a; done
            export HOME='{Home}' PATH='{Stubs}':/usr/bin:/bin
            unset XDG_CONFIG_HOME XDG_STATE_HOME XDG_RUNTIME_DIR
            exec sh -c "$last"
            """);
        Script(Path.Combine(Stubs, "id"), """case "$1" in -u) echo 1000;; -un) echo ann;; *) exec /usr/bin/id "$@";; esac""");
        Script(Path.Combine(Stubs, "loginctl"), $"""
            echo "$*" >> '{Stubs}/loginctl.log'
            case "$1" in show-user) echo yes;; esac
            """);
        // systemctl: records its arguments; start runs the hive under a shell that reaps it (this machine's PID 1 does not),
        // so a stopped hive's pid is gone rather than a zombie.
        Script(Path.Combine(Stubs, "systemctl"), $$"""
            d='{{Stubs}}'
            echo "$*" >> "$d/systemctl.log"
            [ "$1" = --user ] && shift
            [ "$1" = --no-block ] && shift
            p=$(cat "$d/mainpid" 2>/dev/null)
            alive() { [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
            case "$1" in
              --version) echo 'systemd 252 (252.39-1)' ;;
              start) rm -f "$d/mainpid" "$d/stopping"
                     setsid sh -c '"$0" --port 1 & echo $! > "$1"; wait' "$HOME/.local/lib/rbee/rbee-hive" "$d/mainpid" </dev/null >/dev/null 2>&1 &
                     while [ ! -s "$d/mainpid" ]; do sleep 0.01; done ;;
              stop) touch "$d/stopping"; alive && kill -TERM "$p" ;;
              show) case "$3" in
                      MainPID) if alive; then echo "$p"; else echo 0; fi ;;
                      ActiveState) if ! alive; then echo inactive; elif [ -f "$d/stopping" ]; then echo deactivating; else echo active; fi ;;
                    esac ;;
              is-active) if alive; then echo active; else echo inactive; fi ;;
              is-enabled) echo enabled ;;
            esac
            exit 0
            """);
        // The hive: exits 0 on SIGUSR1 (restart mode) and SIGTERM, unless told to hang.
        Script(Path.Combine(Home, ".local", "lib", "rbee", "rbee-hive"), $$"""
            trap 'echo USR1 >> "{{Stubs}}/signals"; [ -f "{{Stubs}}/ignore-usr1" ] || exit 0' USR1
            trap 'echo TERM >> "{{Stubs}}/signals"; [ -f "{{Stubs}}/ignore-term" ] || exit 0' TERM
            while :; do sleep 0.05; done
            """);
        _hive = new RemoteHive(new Ssh(null, TimeSpan.FromSeconds(30), Path.Combine(_dir, "ssh")), "hive-a");
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        _port = ((IPEndPoint)probe.LocalEndpoint).Port; // nothing listens on it once the probe closes
    }

    public void Dispose()
    {
        if (File.Exists(Path.Combine(Stubs, "mainpid")) && int.TryParse(File.ReadAllText(Path.Combine(Stubs, "mainpid")), out var pid))
            try { System.Diagnostics.Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { } catch (InvalidOperationException) { }
        Directory.Delete(_dir, recursive: true);
    }

    private static void Script(string path, string body)
    {
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
    }

    private string[] Calls() => File.Exists(Path.Combine(Stubs, "systemctl.log")) ? File.ReadAllLines(Path.Combine(Stubs, "systemctl.log")) : [];

    private string[] Signals() => File.Exists(Path.Combine(Stubs, "signals")) ? File.ReadAllLines(Path.Combine(Stubs, "signals")) : [];

    private void ClearCalls() => File.Delete(Path.Combine(Stubs, "systemctl.log"));

    [Fact]
    public async Task WithAUnitOnTheHost_StartStopAndRestartModeGoThroughSystemdAsTheyShould()
    {
        var host = await _hive.ProbeAsync(CancellationToken.None);
        Assert.Equal(("ann", false, false, Home, 252), (host.User, host.IsRoot, host.UnitInstalled, host.Home, host.SystemdVersion));
        ClearCalls();
        Assert.Equal((Path.Combine(Home, ".config"), Path.Combine(Home, ".local/state")), (host.ConfigHome, host.StateHome));

        // Install: the user unit where the user's manager reads it, the manager reloaded, lingering on.
        var text = HiveUnit.Render(RemoteHive.UnitFor(host, _port));
        var linger = await _hive.InstallUnitAsync(text, CancellationToken.None);
        Assert.True(linger.Lingering, linger.Detail);
        Assert.Equal(text, await File.ReadAllTextAsync(UnitFile));
        Assert.Equal(["--user daemon-reload"], Calls());
        Assert.Contains("enable-linger ann", await File.ReadAllTextAsync(Path.Combine(Stubs, "loginctl.log")), StringComparison.Ordinal);
        Assert.True((await _hive.ProbeAsync(CancellationToken.None)).UnitInstalled);

        // Start: enabled and started by systemd; the unit's main process is the hive, so a second start is refused.
        ClearCalls();
        var (started, detail) = await _hive.StartAsync(_port, CancellationToken.None);
        Assert.Equal(RemoteStart.Started, started);
        Assert.Contains("under systemd", detail, StringComparison.Ordinal);
        Assert.Equal(["--user enable --quiet rbee-hive.service", "--user start rbee-hive.service"], Calls().Where(c => !c.Contains("show", StringComparison.Ordinal)));
        var (again, why) = await _hive.StartAsync(_port, CancellationToken.None);
        Assert.Equal(RemoteStart.AlreadyRunning, again);
        Assert.Contains("already runs with pid", why, StringComparison.Ordinal);
        var status = await _hive.StatusAsync(_port, CancellationToken.None);
        Assert.NotNull(status.Pid);
        Assert.Equal($"{UnitFile}: active, enabled", status.Unit);

        // Restart mode (an upgrade): the hive itself gets SIGUSR1 and exits 0; no stop job, the unit stays enabled.
        ClearCalls();
        var (wasRunning, stopped) = await _hive.StopAsync(TimeSpan.FromSeconds(10), CancellationToken.None, keepWorkers: true);
        Assert.True(wasRunning, stopped);
        Assert.Equal(["USR1"], Signals());
        Assert.DoesNotContain(Calls(), c => c.Contains("stop", StringComparison.Ordinal) || c.Contains("disable", StringComparison.Ordinal));

        // A stop on purpose: disabled (not at boot either) and stopped by systemd, which sends SIGTERM.
        Assert.Equal(RemoteStart.Started, (await _hive.StartAsync(_port, CancellationToken.None)).Outcome);
        ClearCalls();
        (wasRunning, stopped) = await _hive.StopAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.True(wasRunning, stopped);
        Assert.Contains("under systemd", stopped, StringComparison.Ordinal);
        Assert.Equal(["USR1", "TERM"], Signals());
        var calls = Calls().Where(c => !c.Contains("show", StringComparison.Ordinal)).ToArray();
        Assert.Equal(["--user disable --quiet rbee-hive.service", "--user --no-block stop rbee-hive.service", "--user reset-failed rbee-hive.service"], calls);
        Assert.False((await _hive.StopAsync(TimeSpan.FromSeconds(1), CancellationToken.None)).WasRunning);

        // Uninstall: disabled, the file gone, the manager reloaded.
        ClearCalls();
        await _hive.UninstallAsync(CancellationToken.None);
        Assert.False(File.Exists(UnitFile));
        Assert.Equal(["--user disable --quiet rbee-hive.service", "--user daemon-reload", "--user reset-failed rbee-hive.service"], Calls());
        Assert.False(await _hive.RemoveUnitAsync(CancellationToken.None));
    }

    [Fact]
    public async Task AHiveThatOutlivesTheGrace_IsKilledOnlyOnceAStopJobRuns_SoSystemdDoesNotRestartIt()
    {
        var host = await _hive.ProbeAsync(CancellationToken.None);
        await _hive.InstallUnitAsync(HiveUnit.Render(RemoteHive.UnitFor(host, _port)), CancellationToken.None);
        File.WriteAllText(Path.Combine(Stubs, "ignore-term"), "");
        File.WriteAllText(Path.Combine(Stubs, "ignore-usr1"), "");

        foreach (var keepWorkers in new[] { true, false })
        {
            Assert.Equal(RemoteStart.Started, (await _hive.StartAsync(_port, CancellationToken.None)).Outcome);
            var pid = (await _hive.StatusAsync(_port, CancellationToken.None)).Pid!.Value;
            ClearCalls();
            File.Delete(Path.Combine(Stubs, "signals"));

            var (wasRunning, detail) = await _hive.StopAsync(TimeSpan.FromMilliseconds(300), CancellationToken.None, keepWorkers);

            Assert.True(wasRunning, detail);
            Assert.Equal($"rbee-hive (pid {pid}) did not stop in time; killed", detail);
            // Restart mode signals the hive first; either way a stop job runs before the kill (the stand-in hive may be
            // killed before its shell runs the SIGTERM trap, so that one is not asserted).
            Assert.Equal(keepWorkers, Signals().Contains("USR1"));
            Assert.Contains("--user --no-block stop rbee-hive.service", Calls());
            Assert.Contains("--user reset-failed rbee-hive.service", Calls());
            Assert.False(Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal), "the hive still runs");
        }
    }
}
