using System.Globalization;
using System.Text;

namespace Rbee.Platform.Remote;

/// <summary>What the hive's systemd unit runs and where (<see cref="HiveUnit.Render"/>).</summary>
/// <param name="Program">The installed <c>rbee-hive</c> (absolute).</param>
/// <param name="Port">The hive port, <c>--port</c> as the start over SSH passes it.</param>
/// <param name="Home">The user's home: working directory and <c>HOME</c>.</param>
/// <param name="Path"><c>PATH</c> as a start over SSH sees it (the hive finds external engines on it).</param>
/// <param name="ConfigHome"><c>XDG_CONFIG_HOME</c> (its <c>rbee/hive.json</c> and token).</param>
/// <param name="StateHome"><c>XDG_STATE_HOME</c> (its log, run and worker directories).</param>
/// <param name="SystemUnit">A system unit (the SSH user is root) rather than a user unit.</param>
/// <param name="SystemdVersion">The host's systemd; keys newer than it are left out rather than warned about.</param>
public sealed record HiveUnitSpec(
    string Program,
    int Port,
    string Home,
    string Path,
    string ConfigHome,
    string StateHome,
    bool SystemUnit,
    int SystemdVersion)
{
    /// <summary>The log the hive appends to, the same file a start over SSH uses.</summary>
    public string LogFile => System.IO.Path.Combine(StateHome, "rbee", "logs", "rbee-hive.log");
}

/// <summary>
/// The systemd unit of a hive installed with <c>--supervisor systemd</c>: the same program, arguments, configuration,
/// environment and log as <see cref="RemoteHive.StartAsync"/>'s start over SSH, restarted by systemd when it fails.
/// <para>
/// Workers outlive a restart of the hive (DESIGN.md "Workers under the hive", Restart of the hive). A root hive moves each
/// worker into <c>/sys/fs/cgroup/rbee.slice/&lt;type&gt;/&lt;port&gt;</c>, outside the unit's cgroup, so no stop of the
/// unit reaches them. A user hive may only write the cgroup systemd delegates to it (<c>Delegate=yes</c>), so its workers
/// live in <c>…/rbee-hive.service/rbee.slice/…</c>, inside the unit's cgroup; and a hive that cannot write cgroups at all
/// keeps its workers as process groups in the unit's cgroup. With systemd's default <c>KillMode=control-group</c> every
/// process of that cgroup is killed whenever the unit stops, a crash included (the main process gone, systemd "stops" the
/// rest). <c>KillMode=process</c> sends the stop signal (and the final SIGKILL) to the hive alone: the workers stay, and the
/// next hive, started in the same cgroup, re-adopts them (systemd logs "Found left-over process … Ignoring"). A stop on
/// purpose still stops them: SIGTERM is the hive's normal stop, and the hive stops and verifies its own workers.
/// </para>
/// <para>
/// Restart mode (SIGUSR1, the upgrade) exits with status 0, which <c>Restart=on-failure</c> does not restart, so systemd
/// leaves the unit down until the upgrade starts it again. A configuration the hive refuses exits 2
/// (<see cref="Configuration.DaemonMain"/>), which no restart mends: <c>RestartPreventExitStatus=2</c>.
/// </para>
/// </summary>
public static class HiveUnit
{
    public const string Name = "rbee-hive.service";

    /// <summary>Where a root install puts it; a user install uses <c>~/.config/systemd/user/</c>.</summary>
    public const string SystemPath = "/etc/systemd/system/" + Name;

    /// <summary><c>StandardOutput=append:</c> and <c>Type=exec</c> came with systemd 240.</summary>
    public const int MinimumSystemd = 240;

    /// <summary><c>OOMPolicy=</c> came with systemd 243.</summary>
    public const int OomPolicySystemd = 243;

    /// <summary><c>RestartSteps=</c> and <c>RestartMaxDelaySec=</c> (a restart delay that grows) came with systemd 254.</summary>
    public const int RestartBackoffSystemd = 254;

    /// <summary>The growing restart delay, where systemd has it: 1 s, then up to 60 s in 6 steps, as the queen backs off.</summary>
    public const int RestartSteps = 6;
    public static readonly TimeSpan RestartMaxDelay = TimeSpan.FromSeconds(60);

    /// <summary>The start over SSH rotates the log at this size when it starts the hive; the unit does the same.</summary>
    public const long LogRotateBytes = 16 * 1024 * 1024;

    public static string Render(HiveUnitSpec spec)
    {
        foreach (var path in new[] { spec.Program, spec.Home, spec.ConfigHome, spec.StateHome })
            if (!System.IO.Path.IsPathRooted(path) || path.Any(char.IsControl))
                throw new ArgumentException($"'{path}' is not an absolute path a systemd unit can name (no control characters)", nameof(spec));
        // systemd refuses to run a program whose path has a quote or a backslash ("Executable name contains special characters").
        if (spec.Program.IndexOfAny(['\'', '"', '\\']) >= 0)
            throw new ArgumentException($"systemd cannot run a program whose path has a quote or a backslash: {spec.Program}", nameof(spec));
        var log = spec.LogFile;
        var s = new StringBuilder();
        s.Append("# rbee-hive, written by `rbee hive install --supervisor systemd`; `rbee hive uninstall` removes it.\n");
        s.Append("# KillMode=process: workers outlive a restart of the hive, which re-adopts them.\n");
        s.Append("[Unit]\n");
        s.Append("Description=rbee hive (rbee-hive on port ").Append(Invariant(spec.Port)).Append(")\n");
        if (spec.SystemUnit)
        {
            // The user manager has no network-online.target; the hive's ready sequence retries anyway.
            s.Append("Wants=network-online.target\n");
            s.Append("After=network-online.target\n");
        }
        // Never give up: without a limit systemd keeps restarting (with a growing delay where it has one).
        s.Append("StartLimitIntervalSec=0\n");
        s.Append('\n');
        s.Append("[Service]\n");
        s.Append("Type=exec\n");
        s.Append("WorkingDirectory=").Append(Path(spec.Home)).Append('\n');
        s.Append("Environment=").Append(Assignments(
            "HOME=" + spec.Home, "PATH=" + spec.Path, "XDG_CONFIG_HOME=" + spec.ConfigHome, "XDG_STATE_HOME=" + spec.StateHome)).Append('\n');
        s.Append("ExecStartPre=-").Append(Command("/bin/sh", "-c",
            "[ -f \"$1\" ] && [ $(wc -c < \"$1\") -gt " + LogRotateBytes.ToString(CultureInfo.InvariantCulture) + " ] && mv \"$1\" \"$1.1\"; true",
            "rbee-hive-log", log)).Append('\n');
        s.Append("ExecStart=").Append(Command(spec.Program, "--port", Invariant(spec.Port))).Append('\n');
        s.Append("StandardInput=null\n");
        s.Append("StandardOutput=append:").Append(Path(log)).Append('\n');
        s.Append("StandardError=append:").Append(Path(log)).Append('\n');
        s.Append("Restart=on-failure\n");
        s.Append("RestartSec=1\n");
        if (spec.SystemdVersion >= RestartBackoffSystemd)
        {
            s.Append("RestartSteps=").Append(Invariant(RestartSteps)).Append('\n');
            s.Append("RestartMaxDelaySec=").Append(Invariant((int)RestartMaxDelay.TotalSeconds)).Append('\n');
        }
        s.Append("RestartPreventExitStatus=2\n");
        s.Append("KillMode=process\n");
        // A worker the kernel kills for memory is the hive's to report (and restart, by its policy); with the default
        // OOMPolicy=stop an OOM kill anywhere in the unit's cgroup, a user hive's workers included, would stop the hive.
        if (spec.SystemdVersion >= OomPolicySystemd) s.Append("OOMPolicy=continue\n");
        s.Append("Delegate=yes\n");
        s.Append('\n');
        s.Append("[Install]\n");
        s.Append("WantedBy=").Append(spec.SystemUnit ? "multi-user.target" : "default.target").Append('\n');
        return s.ToString();
    }

    /// <summary>
    /// A command line (<c>ExecStart=</c>) as systemd splits it: a word with white space, a quote, a backslash or a
    /// <c>;</c> is double-quoted with C escapes; <c>%</c> (a specifier) is doubled everywhere, and <c>$</c> in the arguments,
    /// where systemd expands <c>$NAME</c> (in the program's path it does not).
    /// </summary>
    public static string Command(string program, params string[] args) =>
        string.Join(' ', args.Select(w => Word(w, dollar: true)).Prepend(Word(program, dollar: false)));

    /// <summary>Assignments (<c>Environment=</c>): quoted as <see cref="Command"/> does, but <c>$</c> stays as it is, since
    /// systemd does not expand variables there.</summary>
    public static string Assignments(params string[] words) => string.Join(' ', words.Select(w => Word(w, dollar: false)));

    /// <summary>One word: bare when nothing in it needs quoting, else double-quoted.</summary>
    private static string Word(string word, bool dollar)
    {
        var escaped = new StringBuilder();
        var quote = word.Length == 0;
        foreach (var c in word)
        {
            switch (c)
            {
                case '%': escaped.Append("%%"); break;
                case '$' when dollar: escaped.Append("$$"); break;
                case '\\': escaped.Append(@"\\"); quote = true; break;
                case '"': escaped.Append("\\\""); quote = true; break;
                case '\'': escaped.Append('\''); quote = true; break;
                case '\n': escaped.Append(@"\n"); quote = true; break;
                case '\t': escaped.Append(@"\t"); quote = true; break;
                case ';': escaped.Append(';'); quote = true; break;
                default:
                    if (char.IsWhiteSpace(c) || char.IsControl(c))
                    {
                        if (char.IsControl(c)) escaped.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
                        else escaped.Append(c);
                        quote = true;
                    }
                    else escaped.Append(c);
                    break;
            }
        }
        return quote ? "\"" + escaped + "\"" : escaped.ToString();
    }

    /// <summary>A path setting (<c>WorkingDirectory=</c>, <c>append:</c>): the rest of the line, unquoted; only specifiers
    /// are expanded there.</summary>
    public static string Path(string path) => path.Replace("%", "%%", StringComparison.Ordinal);

    private static string Invariant(int n) => n.ToString(CultureInfo.InvariantCulture);
}
