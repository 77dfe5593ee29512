using System.Globalization;

namespace Rbee.Platform.Remote;

/// <summary>How a hive on another machine is supervised when it crashes (<c>rbee hive install --supervisor</c>).</summary>
public static class Supervisors
{
    public const string Auto = "auto";
    public const string Systemd = "systemd";
    public const string Queen = "queen";

    public static readonly string[] All = [Auto, Systemd, Queen];
}

/// <summary>What <c>status --host</c> found on the host: the pid and uptime of its rbee-hive (null when none runs), whether
/// the hive port is taken (by it or by anything else), whether the programs are installed, the installed build's lines
/// (scripts/publish.sh's BUILD: program, kind, commit, time), and the log's path there.</summary>
public sealed record RemoteStatus(int? Pid, long? UptimeSeconds, bool PortTaken, bool Installed, IReadOnlyList<string> Build, string LogPath);

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
/// </summary>
public sealed class RemoteHive(Ssh ssh, string alias)
{
    public string Alias { get; } = alias;

    /// <summary>Exit code of the start script when a hive already runs; the output names its pid.</summary>
    private const int AlreadyRunningCode = 3;

    // The shell's names for the layout, defined once; every script starts with them.
    private const string Layout =
        "lib=\"$HOME/.local/lib/rbee\"; conf=\"${XDG_CONFIG_HOME:-$HOME/.config}/rbee\"; " +
        "state=\"${XDG_STATE_HOME:-$HOME/.local/state}/rbee\"; pidf=\"$state/rbee-hive.pid\"; log=\"$state/logs/rbee-hive.log\"; ";

    // A live rbee-hive whose pid the pid file names (a recycled pid runs something else).
    private const string Running =
        "running() { [ -f \"$pidf\" ] && p=$(cat \"$pidf\") && [ -n \"$p\" ] && kill -0 \"$p\" 2>/dev/null " +
        "&& tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q rbee-hive; }; ";

    /// <summary>The host's OS and architecture as .NET names them (<c>linux-x64</c>), and its user's home.</summary>
    public async Task<(string Rid, string Home)> ProbeAsync(CancellationToken ct)
    {
        var r = await ssh.RunAsync(Alias, "uname -sm; printf '%s\\n' \"$HOME\"", null, ct).ConfigureAwait(false);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (!r.Ok || lines.Length < 2) throw new SshException($"ssh {Alias}: could not read the host's system (uname): {Last(r)}");
        var parts = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var os = parts.ElementAtOrDefault(0);
        var arch = parts.ElementAtOrDefault(1) switch
        {
            "x86_64" or "amd64" => "x64",
            "aarch64" or "arm64" => "arm64",
            var other => other,
        };
        if (os != "Linux" || arch is not ("x64" or "arm64"))
            throw new SshException($"{Alias} runs {lines[0]}; rbee hives run on Linux x86_64 and aarch64");
        return ($"linux-{arch}", lines[1]);
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
    /// Starts the hive in the background (its own session, log appended, rotated at 16 MiB) unless one runs: checked by the
    /// pid file and the hive port, under a lock, so two starts at once make one hive.
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
            "if [ -f \"$log\" ] && [ $(wc -c < \"$log\") -gt 16777216 ]; then mv \"$log\" \"$log.1\"; fi; " +
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
    /// </summary>
    public async Task<(bool WasRunning, string Detail)> StopAsync(TimeSpan grace, CancellationToken ct, bool keepWorkers = false)
    {
        var tenths = ((int)Math.Ceiling(grace.TotalSeconds * 10)).ToString(CultureInfo.InvariantCulture);
        var r = await ssh.RunAsync(Alias, Layout + Running +
            "if ! running; then echo 'no rbee-hive runs'; exit 5; fi; kill -" + (keepWorkers ? "USR1" : "TERM") + " \"$p\"; n=0; " +
            "while kill -0 \"$p\" 2>/dev/null && [ $n -lt " + tenths + " ]; do sleep 0.1; n=$((n+1)); done; " +
            "if kill -0 \"$p\" 2>/dev/null; then kill -KILL \"$p\"; echo \"rbee-hive (pid $p) did not stop in time; killed\"; else echo \"stopped rbee-hive (pid $p)\"; fi; rm -f \"$pidf\"",
            null, ct).ConfigureAwait(false);
        return r.ExitCode switch
        {
            0 => (true, r.Stdout.Trim()),
            5 => (false, r.Stdout.Trim()),
            _ => throw new SshException($"{Alias}: stopping the hive failed: {Last(r)}"),
        };
    }

    /// <summary>What runs and what is installed on the host: the hive's pid and uptime, whether its port is taken, the
    /// installed build, the log's path.</summary>
    public async Task<RemoteStatus> StatusAsync(int port, CancellationToken ct)
    {
        var p = port.ToString(CultureInfo.InvariantCulture);
        var r = await ssh.RunAsync(Alias, Layout + Running +
            "if running; then echo \"pid $p\"; echo \"uptime $(ps -o etimes= -p $p | tr -d ' ')\"; fi; " +
            "if command -v ss >/dev/null && [ -n \"$(ss -Hltn \"sport = :" + p + "\" 2>/dev/null)\" ]; then echo 'port taken'; fi; " +
            "[ -x \"$lib/rbee-hive\" ] && echo installed; [ -f \"$lib/BUILD\" ] && sed 's/^/build /' \"$lib/BUILD\"; echo \"log $log\"; true",
            null, ct).ConfigureAwait(false);
        if (!r.Ok) throw new SshException($"{Alias}: reading the hive's status failed: {Last(r)}");
        int? pid = null;
        long? uptime = null;
        var portTaken = false;
        var installed = false;
        var build = new List<string>();
        var log = "";
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
            }
        }
        return new RemoteStatus(pid, uptime, portTaken, installed, build, log);
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

    /// <summary>Removes the programs and the hive's configuration (the log and the token stay).</summary>
    public async Task UninstallAsync(CancellationToken ct)
    {
        var r = await ssh.RunAsync(Alias, Layout + "rm -rf \"$lib\" \"$lib.new.\"* \"$lib.old\" \"$conf/hive.json\" \"$pidf\"", null, ct).ConfigureAwait(false);
        if (!r.Ok) throw new SshException($"{Alias}: uninstall failed: {Last(r)}");
    }

    private static string Last(SshResult r) =>
        (r.Stderr + "\n" + r.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? $"exit {r.ExitCode}";

    private static string Json(string s) => "\"" + System.Text.Encodings.Web.JavaScriptEncoder.Default.Encode(s) + "\"";
}
