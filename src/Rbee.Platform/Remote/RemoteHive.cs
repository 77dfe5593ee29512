using System.Globalization;

namespace Rbee.Platform.Remote;

/// <summary>What <c>status --host</c> found on the host: the pid and uptime of its rbee-hive (null when none runs), whether
/// the hive port is taken (by it or by anything else), whether the programs are installed, the installed build's lines
/// (scripts/publish.sh's BUILD: program, kind, commit, time), and the log's path there.</summary>
public sealed record RemoteStatus(int? Pid, long? UptimeSeconds, bool PortTaken, bool Installed, IReadOnlyList<string> Build, string LogPath)
{
    /// <summary>The hive's systemd unit as <c>systemctl</c> reports it (<c>active, enabled</c>); null when none is installed.</summary>
    public string? Unit { get; init; }
}

/// <summary>What writing the unit did: whether the user's manager lingers (starts at boot and outlives logouts), and
/// why not when it does not; always true for a system unit.</summary>
public sealed record UnitInstall(bool Lingering, string Detail);

/// <summary>What <c>start</c> found on the host.</summary>
public enum RemoteStart
{
    Started,
    /// <summary>A hive already runs there (its pid file names a live rbee-hive, or its port is taken).</summary>
    AlreadyRunning,
}

/// <summary>
/// A hive on another machine, managed over <see cref="Ssh"/> (issue 14): its files, and the shell the host runs to
/// install, start, stop and read it. The layout on the host is the one a local install has: programs in
/// <c>~/.local/lib/rbee/</c>, configuration and the cluster token in <c>~/.config/rbee/</c>, pid file and log in
/// <c>~/.local/state/rbee/</c> (XDG variables honoured). The CLI and the queen (restarting a crashed hive) run the same
/// scripts, so there is one definition of "start" and one of "already running".
/// <para>
/// A hive installed with <c>--supervisor systemd</c> has a unit (<see cref="HiveUnit"/>): a system unit when the SSH user
/// is root, else a user unit. Whether the unit file is there on the host decides, in each script, whether start and
/// stop go through <c>systemctl</c>: the queen, which knows nothing of units, starts and stops such a hive right.
/// </para>
/// </summary>
public sealed class RemoteHive(Ssh ssh, string alias)
{
    public string Alias { get; } = alias;

    /// <summary>Exit code of the start script when a hive already runs; the output names its pid.</summary>
    private const int AlreadyRunningCode = 3;

    // The shell's names for the layout, defined once; every script starts with them. The unit's place and the systemctl
    // that reaches it depend on the user: root has the system manager, anyone else their own (over SSH its bus is found
    // through XDG_RUNTIME_DIR, which a non-interactive session may lack).
    private const string Layout =
        "lib=\"$HOME/.local/lib/rbee\"; conf=\"${XDG_CONFIG_HOME:-$HOME/.config}/rbee\"; " +
        "state=\"${XDG_STATE_HOME:-$HOME/.local/state}/rbee\"; pidf=\"$state/rbee-hive.pid\"; log=\"$state/logs/rbee-hive.log\"; " +
        "uid=$(id -u); unit=" + HiveUnit.Name + "; " +
        "if [ \"$uid\" = 0 ]; then unitf=" + HiveUnit.SystemPath + "; sctl() { systemctl \"$@\"; }; " +
        "else unitf=\"$HOME/.config/systemd/user/$unit\"; sctl() { XDG_RUNTIME_DIR=\"${XDG_RUNTIME_DIR:-/run/user/$uid}\" systemctl --user \"$@\"; }; fi; ";

    // A live rbee-hive: the one the pid file names (a start over SSH), else the main process of the unit where there is
    // one (a recycled pid runs something else). Sets p, and via: pidfile or unit.
    private const string Running =
        "hive() { kill -0 \"$1\" 2>/dev/null && tr '\\0' ' ' < /proc/$1/cmdline 2>/dev/null | grep -q rbee-hive; }; " +
        "running() { via=pidfile; if [ -f \"$pidf\" ] && p=$(cat \"$pidf\") && [ -n \"$p\" ] && hive \"$p\"; then return 0; fi; " +
        "via=unit; [ -f \"$unitf\" ] && p=$(sctl show -p MainPID --value $unit 2>/dev/null) && [ -n \"$p\" ] && [ \"$p\" != 0 ] && hive \"$p\"; }; ";

    /// <summary>
    /// The host's OS and architecture as .NET names them (<c>linux-x64</c>), its user and home, whether it booted with
    /// systemd (<c>/run/systemd/system</c>, as <c>sd_booted</c> checks) and which, and the environment a start over SSH gets.
    /// </summary>
    public async Task<RemoteHost> ProbeAsync(CancellationToken ct)
    {
        var r = await ssh.RunAsync(Alias, Layout +
            "echo \"system $(uname -sm)\"; printf 'home %s\\n' \"$HOME\"; echo \"uid $uid\"; echo \"user $(id -un)\"; " +
            "[ -d /run/systemd/system ] && echo booted; " +
            "command -v systemctl >/dev/null && echo \"systemd $(systemctl --version 2>/dev/null | sed -n '1s/^systemd \\([0-9]*\\).*/\\1/p')\"; " +
            "printf 'path %s\\n' \"$PATH\"; printf 'config %s\\n' \"${XDG_CONFIG_HOME:-$HOME/.config}\"; " +
            "printf 'state %s\\n' \"${XDG_STATE_HOME:-$HOME/.local/state}\"; [ -f \"$unitf\" ] && echo unit; true", null, ct).ConfigureAwait(false);
        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var i = line.IndexOf(' ', StringComparison.Ordinal);
            found.TryAdd(i > 0 ? line[..i] : line, i > 0 ? line[(i + 1)..].TrimEnd('\r') : "");
        }
        if (!r.Ok || !found.TryGetValue("system", out var system) || !found.TryGetValue("home", out var home))
            throw new SshException($"ssh {Alias}: could not read the host's system (uname): {Last(r)}");
        var parts = system.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var os = parts.ElementAtOrDefault(0);
        var arch = parts.ElementAtOrDefault(1) switch
        {
            "x86_64" or "amd64" => "x64",
            "aarch64" or "arm64" => "arm64",
            var other => other,
        };
        if (os != "Linux" || arch is not ("x64" or "arm64"))
            throw new SshException($"{Alias} runs {system}; rbee hives run on Linux x86_64 and aarch64");
        return new RemoteHost(
            Rid: $"linux-{arch}",
            Home: home,
            User: found.GetValueOrDefault("user", ""),
            IsRoot: found.GetValueOrDefault("uid") == "0",
            SystemdBooted: found.ContainsKey("booted"),
            SystemdVersion: int.TryParse(found.GetValueOrDefault("systemd"), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null,
            Path: found.GetValueOrDefault("path", "/usr/local/bin:/usr/bin:/bin"),
            ConfigHome: found.GetValueOrDefault("config", home + "/.config"),
            StateHome: found.GetValueOrDefault("state", home + "/.local/state"),
            UnitInstalled: found.ContainsKey("unit"));
    }

    /// <summary>The unit for this host: the installed <c>rbee-hive</c> on <paramref name="port"/>, as a start over SSH runs it.</summary>
    public static HiveUnitSpec UnitFor(RemoteHost host, int port) => new(
        Program: host.Home.TrimEnd('/') + "/.local/lib/rbee/rbee-hive",
        Port: port,
        Home: host.Home,
        Path: host.Path,
        ConfigHome: host.ConfigHome,
        StateHome: host.StateHome,
        SystemUnit: host.IsRoot,
        SystemdVersion: host.SystemdVersion ?? HiveUnit.MinimumSystemd);

    /// <summary>
    /// Writes the hive's unit (<paramref name="unitText"/>, through stdin) where its user's manager reads it, and reloads
    /// the manager; a user unit also gets <c>loginctl enable-linger</c>, without which the user's manager, and the hive
    /// with it, stops at the user's last logout and does not start at boot. A manager that cannot be reached leaves no
    /// unit behind (so starts stay over SSH) and fails with what to use instead.
    /// </summary>
    public async Task<UnitInstall> InstallUnitAsync(string unitText, CancellationToken ct)
    {
        var r = await ssh.RunAsync(Alias, Layout +
            "mkdir -p \"$state/logs\" \"$(dirname \"$unitf\")\" || exit 1; cat > \"$unitf.new\" && mv \"$unitf.new\" \"$unitf\" || exit 1; " +
            "if ! out=$(sctl daemon-reload 2>&1); then rm -f \"$unitf\"; echo \"systemctl daemon-reload failed: $(printf '%s' \"$out\" | tail -n 1)\" >&2; exit 7; fi; " +
            "if [ \"$uid\" = 0 ]; then echo 'linger yes'; exit 0; fi; " +
            "if out=$(loginctl enable-linger \"$(id -un)\" 2>&1) && [ \"$(loginctl show-user \"$(id -un)\" -p Linger --value 2>/dev/null)\" = yes ]; then echo 'linger yes'; " +
            "else echo \"linger no $(printf '%s' \"$out\" | tail -n 1)\"; fi",
            Ssh.Utf8(unitText), ct).ConfigureAwait(false);
        if (r.ExitCode == 7)
            throw new SshException($"{Alias}: the systemd manager there cannot be reached ({Last(r)}); use --supervisor queen");
        if (!r.Ok) throw new SshException($"{Alias}: writing the hive's systemd unit failed: {Last(r)}");
        var line = r.Stdout.Split('\n', StringSplitOptions.TrimEntries).FirstOrDefault(l => l.StartsWith("linger ", StringComparison.Ordinal)) ?? "linger no";
        return line.StartsWith("linger yes", StringComparison.Ordinal)
            ? new UnitInstall(true, "")
            : new UnitInstall(false, line["linger no".Length..].Trim());
    }

    /// <summary>Disables and removes the hive's unit, when there is one (back to starts over SSH, or an uninstall).</summary>
    public async Task<bool> RemoveUnitAsync(CancellationToken ct)
    {
        var r = await ssh.RunAsync(Alias, Layout +
            "[ -f \"$unitf\" ] || { echo 'no unit'; exit 0; }; sctl disable --quiet $unit 2>/dev/null; rm -f \"$unitf\" \"$unitf.new\"; " +
            "sctl daemon-reload 2>/dev/null; sctl reset-failed $unit 2>/dev/null; echo removed",
            null, ct).ConfigureAwait(false);
        if (!r.Ok) throw new SshException($"{Alias}: removing the hive's systemd unit failed: {Last(r)}");
        return r.Stdout.Contains("removed", StringComparison.Ordinal);
    }

    /// <summary>
    /// Puts the programs of <paramref name="tarball"/> (a tar of the files that go in <c>~/.local/lib/rbee/</c>) in place:
    /// unpacked beside the old ones, then swapped in, so a failed copy (no space) leaves the old install whole.
    /// </summary>
    public async Task InstallProgramsAsync(byte[] tarball, CancellationToken ct)
    {
        var r = await ssh.RunAsync(Alias, Layout +
            "set -e; mkdir -p \"$HOME/.local/lib\"; new=\"$lib.new.$$\"; rm -rf \"$new\"; mkdir -p \"$new\"; " +
            "if ! tar -C \"$new\" -xf - ; then rm -rf \"$new\"; echo 'could not unpack the programs (is the disk full?)' >&2; exit 1; fi; " +
            "rm -rf \"$lib.old\"; if [ -d \"$lib\" ]; then mv \"$lib\" \"$lib.old\"; fi; mv \"$new\" \"$lib\"; rm -rf \"$lib.old\"",
            tarball, ct).ConfigureAwait(false);
        if (!r.Ok) throw new SshException($"{Alias}: installing the programs failed: {Last(r)}");
    }

    /// <summary>Writes the hive's configuration and the cluster token (mode 0600, through stdin: never on a command line).</summary>
    public async Task ConfigureAsync(string queenUrl, string token, CancellationToken ct)
    {
        var config = $$"""
            {
              "Hive": { "HiveId": {{Json(Alias)}}, "QueenUrl": {{Json(queenUrl)}} }
            }
            """;
        var r = await ssh.RunAsync(Alias, Layout +
            "set -e; umask 077; mkdir -p \"$conf\"; cat > \"$conf/token.new\"; mv \"$conf/token.new\" \"$conf/token\"; " +
            "umask 022; printf '%s\\n' " + Ssh.Quote(config) + " > \"$conf/hive.json.new\"; mv \"$conf/hive.json.new\" \"$conf/hive.json\"",
            Ssh.Utf8(token), ct).ConfigureAwait(false);
        if (!r.Ok) throw new SshException($"{Alias}: writing the hive's configuration failed: {Last(r)}");
    }

    /// <summary>
    /// Starts the hive unless one runs: checked by the pid file or the unit, and the hive port, under a lock, so two starts
    /// at once make one hive. With a unit on the host, <c>systemctl enable</c> and <c>start</c> (systemd then restarts it
    /// when it fails, and starts it at boot); without, in the background (its own session, log appended, rotated at 16 MiB).
    /// </summary>
    public async Task<(RemoteStart Outcome, string Detail)> StartAsync(int port, CancellationToken ct)
    {
        var p = port.ToString(CultureInfo.InvariantCulture);
        var r = await ssh.RunAsync(Alias, Layout + Running +
            "mkdir -p \"$state/logs\"; exec 9>\"$state/rbee-hive.lock\"; " +
            "if command -v flock >/dev/null; then flock -w 10 9 || { echo 'another start holds the lock'; exit 3; }; fi; " +
            "if running; then echo \"rbee-hive already runs with pid $p\"; exit 3; fi; " +
            "if command -v ss >/dev/null && [ -n \"$(ss -Hltn \"sport = :" + p + "\" 2>/dev/null)\" ]; then echo 'port " + p + " is already taken by another process'; exit 3; fi; " +
            "[ -x \"$lib/rbee-hive\" ] || { echo \"rbee-hive is not installed in $lib; run rbee hive install first\"; exit 4; }; " +
            "if [ -f \"$unitf\" ]; then rm -f \"$pidf\"; " +
            "if ! out=$(sctl enable --quiet $unit 2>&1 9>&- && sctl start $unit 2>&1 9>&-); then echo \"systemctl start $unit failed: $(printf '%s' \"$out\" | tail -n 1)\"; exit 4; fi; " +
            "echo \"started rbee-hive with pid $(sctl show -p MainPID --value $unit) under systemd ($unitf), log $log\"; exit 0; fi; " +
            "if [ -f \"$log\" ] && [ $(wc -c < \"$log\") -gt " + HiveUnit.LogRotateBytes.ToString(CultureInfo.InvariantCulture) + " ]; then mv \"$log\" \"$log.1\"; fi; " +
            "cd \"$HOME\"; setsid \"$lib/rbee-hive\" --port " + p + " < /dev/null >> \"$log\" 2>&1 9>&- & " +
            "echo $! > \"$pidf\"; echo \"started rbee-hive with pid $!, log $log\"",
            null, ct).ConfigureAwait(false);
        var detail = r.Stdout.Trim();
        return r.ExitCode switch
        {
            0 => (RemoteStart.Started, detail),
            AlreadyRunningCode => (RemoteStart.AlreadyRunning, detail),
            _ => throw new SshException($"{Alias}: starting the hive failed: {(detail.Length > 0 ? detail : Last(r))}"),
        };
    }

    /// <summary>
    /// Stops the hive (SIGTERM, then SIGKILL after <paramref name="grace"/>); false when none ran. With
    /// <paramref name="keepWorkers"/> it is SIGUSR1 instead, the hive's restart mode: its workers keep running for the next
    /// hive to re-adopt (an upgrade).
    /// <para>
    /// A hive under its unit is stopped through systemd, so systemd does not take the stop for a crash: <c>systemctl
    /// stop</c> (SIGTERM to the hive alone, <c>KillMode=process</c>) and <c>disable</c>, as a stop on purpose means "not at
    /// boot either". Restart mode signals the hive itself: it exits with status 0, which <c>Restart=on-failure</c> leaves
    /// down, and the unit stays enabled for the start that follows. A hive that outlives the grace is killed only once a
    /// stop job runs (the unit is deactivating), since a SIGKILL outside one would be a failure systemd restarts.
    /// </para>
    /// </summary>
    public async Task<(bool WasRunning, string Detail)> StopAsync(TimeSpan grace, CancellationToken ct, bool keepWorkers = false)
    {
        var tenths = ((int)Math.Ceiling(grace.TotalSeconds * 10)).ToString(CultureInfo.InvariantCulture);
        var signal = keepWorkers ? "USR1" : "TERM";
        var r = await ssh.RunAsync(Alias, Layout + Running +
            "if ! running; then echo 'no rbee-hive runs'; exit 5; fi; " +
            "if [ $via = unit ]; then " + (keepWorkers ? "kill -USR1 \"$p\"" : "sctl disable --quiet $unit 2>/dev/null; sctl --no-block stop $unit") + "; " +
            "else kill -" + signal + " \"$p\"; fi; n=0; " +
            "while kill -0 \"$p\" 2>/dev/null && [ $n -lt " + tenths + " ]; do sleep 0.1; n=$((n+1)); done; " +
            "if kill -0 \"$p\" 2>/dev/null; then " +
            // A stop on purpose has its stop job already; restart mode needs one before the kill.
            "if [ $via = unit ]; then " + (keepWorkers ? "sctl --no-block stop $unit; " : "") + "n=0; " +
            "while [ \"$(sctl show -p ActiveState --value $unit)\" = active ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done; fi; " +
            "kill -KILL \"$p\"; echo \"rbee-hive (pid $p) did not stop in time; killed\"; " +
            "else echo \"stopped rbee-hive (pid $p)$([ $via = unit ] && echo ' under systemd')\"; fi; " +
            "if [ $via = unit ]; then n=0; while [ \"$(sctl show -p ActiveState --value $unit)\" = deactivating ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done; " +
            "sctl reset-failed $unit 2>/dev/null; fi; rm -f \"$pidf\"; true",
            null, ct).ConfigureAwait(false);
        return r.ExitCode switch
        {
            0 => (true, r.Stdout.Trim()),
            5 => (false, r.Stdout.Trim()),
            _ => throw new SshException($"{Alias}: stopping the hive failed: {Last(r)}"),
        };
    }

    /// <summary>
    /// Waits up to <paramref name="within"/> on the host for a hive that was asked to stop (its <c>/v1/shutdown</c>) to
    /// exit by itself, as it does once its workers are stopped; true when none runs (then or already).
    /// </summary>
    public async Task<bool> WaitExitAsync(TimeSpan within, CancellationToken ct)
    {
        var tenths = ((int)Math.Ceiling(within.TotalSeconds * 10)).ToString(CultureInfo.InvariantCulture);
        var r = await ssh.RunAsync(Alias, Layout + Running +
            "n=0; while running && [ $n -lt " + tenths + " ]; do sleep 0.1; n=$((n+1)); done; if running; then exit 7; fi; true",
            null, ct).ConfigureAwait(false);
        return r.ExitCode switch
        {
            0 => true,
            7 => false,
            _ => throw new SshException($"{Alias}: waiting for the hive to exit failed: {Last(r)}"),
        };
    }

    /// <summary>
    /// What is left on the host of a stopped hive: each of <paramref name="pids"/> still running (its <c>/proc</c> entry,
    /// whoever owns it) and each of <paramref name="ports"/> still listening (<c>ss</c>, where the host has it). Empty when
    /// all are gone; the shutdown's verification.
    /// </summary>
    public async Task<IReadOnlyList<string>> LeftoversAsync(IEnumerable<int> ports, IEnumerable<int> pids, CancellationToken ct)
    {
        static string Words(IEnumerable<int> xs) => string.Join(' ', xs.Select(x => x.ToString(CultureInfo.InvariantCulture)));
        var r = await ssh.RunAsync(Alias,
            "for p in " + Words(pids) + "; do [ -d /proc/$p ] && echo \"pid $p runs\"; done; " +
            "if command -v ss >/dev/null; then for q in " + Words(ports) + "; do [ -n \"$(ss -Hltn \"sport = :$q\" 2>/dev/null)\" ] && echo \"port $q listens\"; done; fi; true",
            null, ct).ConfigureAwait(false);
        if (r.ExitCode != 0) throw new SshException($"{Alias}: checking what is left of the hive failed: {Last(r)}");
        return [.. r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
    }

    /// <summary>What runs and what is installed on the host: the hive's pid and uptime, whether its port is taken, the
    /// installed build, the log's path.</summary>
    public async Task<RemoteStatus> StatusAsync(int port, CancellationToken ct)
    {
        var p = port.ToString(CultureInfo.InvariantCulture);
        var r = await ssh.RunAsync(Alias, Layout + Running +
            "if running; then echo \"pid $p\"; echo \"uptime $(ps -o etimes= -p $p | tr -d ' ')\"; fi; " +
            "if command -v ss >/dev/null && [ -n \"$(ss -Hltn \"sport = :" + p + "\" 2>/dev/null)\" ]; then echo 'port taken'; fi; " +
            "[ -x \"$lib/rbee-hive\" ] && echo installed; [ -f \"$lib/BUILD\" ] && sed 's/^/build /' \"$lib/BUILD\"; echo \"log $log\"; " +
            "[ -f \"$unitf\" ] && echo \"unit $unitf: $(sctl is-active $unit 2>/dev/null), $(sctl is-enabled $unit 2>/dev/null)\"; true",
            null, ct).ConfigureAwait(false);
        if (!r.Ok) throw new SshException($"{Alias}: reading the hive's status failed: {Last(r)}");
        int? pid = null;
        long? uptime = null;
        var portTaken = false;
        var installed = false;
        var build = new List<string>();
        var log = "";
        string? unit = null;
        foreach (var line in r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var (key, value) = line.IndexOf(' ', StringComparison.Ordinal) is var i and > 0 ? (line[..i], line[(i + 1)..]) : (line, "");
            switch (key)
            {
                case "pid": pid = int.TryParse(value, CultureInfo.InvariantCulture, out var n) ? n : null; break;
                case "uptime": uptime = long.TryParse(value, CultureInfo.InvariantCulture, out var u) ? u : null; break;
                case "port": portTaken = true; break;
                case "installed": installed = true; break;
                case "build": build.Add(value); break;
                case "log": log = value; break;
                case "unit": unit = value; break;
            }
        }
        return new RemoteStatus(pid, uptime, portTaken, installed, build, log) { Unit = unit };
    }

    /// <summary>
    /// The hive's log on the host, its last <paramref name="lines"/> lines, then with <paramref name="follow"/> what is
    /// appended (across rotation) until <paramref name="ct"/> ends; false when there is no log yet.
    /// </summary>
    public async Task<bool> LogsAsync(int lines, bool follow, Action<string> onLine, CancellationToken ct)
    {
        var n = lines.ToString(CultureInfo.InvariantCulture);
        var code = await ssh.StreamAsync(Alias, Layout +
            "if [ ! -f \"$log\" ]; then echo \"no log at $log yet (the hive was never started there)\" >&2; exit 6; fi; " +
            (follow ? "exec tail -n " + n + " -F \"$log\"" : "exec tail -n " + n + " \"$log\""),
            onLine, ct).ConfigureAwait(false);
        return code switch
        {
            0 => true,
            6 => false,
            _ => throw new SshException($"{Alias}: reading the hive's log failed (exit {code})"),
        };
    }

    /// <summary>Removes the programs, the hive's configuration and its systemd unit (the log and the token stay).</summary>
    public async Task UninstallAsync(CancellationToken ct)
    {
        await RemoveUnitAsync(ct).ConfigureAwait(false);
        var r = await ssh.RunAsync(Alias, Layout + "rm -rf \"$lib\" \"$lib.new.\"* \"$lib.old\" \"$conf/hive.json\" \"$pidf\"", null, ct).ConfigureAwait(false);
        if (!r.Ok) throw new SshException($"{Alias}: uninstall failed: {Last(r)}");
    }

    private static string Last(SshResult r) =>
        (r.Stderr + "\n" + r.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? $"exit {r.ExitCode}";

    private static string Json(string s) => "\"" + System.Text.Encodings.Web.JavaScriptEncoder.Default.Encode(s) + "\"";
}
