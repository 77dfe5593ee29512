namespace Rbee.Platform.Paths;

/// <summary>
/// Where rbee keeps its files, defined once for every program: per-user configuration in <c>~/.config/rbee/</c>
/// (XDG_CONFIG_HOME honoured: daemon config files, the cluster token), per-user state in <c>~/.local/state/rbee/</c>
/// (XDG_STATE_HOME honoured: daemon logs and pid files, a hive's worker logs), models in <c>~/.cache/rbee/models</c>,
/// and the machine-wide run directory (port locks shared by every hive of the machine).
/// </summary>
public static class RbeePaths
{
    public static string Home =>
        Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    public static string ConfigDirectory => Path.Combine(Xdg("XDG_CONFIG_HOME", ".config"), "rbee");

    public static string StateDirectory => Path.Combine(Xdg("XDG_STATE_HOME", Path.Combine(".local", "state")), "rbee");

    /// <summary>The cluster token file (DESIGN.md "Security"): <c>~/.config/rbee/token</c>, mode 0600.</summary>
    public static string TokenFile => Path.Combine(ConfigDirectory, "token");

    /// <summary>The default config file of a program, e.g. <c>~/.config/rbee/hive.json</c>.</summary>
    public static string ConfigFile(string name) => Path.Combine(ConfigDirectory, name + ".json");

    /// <summary>
    /// The run directory (port locks in <c>ports/</c>, workers' ready files). For root the machine-wide
    /// <c>$TMPDIR/rbee</c> (i.e. <c>/tmp/rbee</c>), which every root hive of the machine agrees on without configuration.
    /// For any other user a directory of its own, <c>$XDG_RUNTIME_DIR/rbee</c>, else <c>~/.local/state/rbee/run</c>: never
    /// a <c>/tmp/rbee</c> that root (or another user) may have created first and that it could not write (issue 14).
    /// </summary>
    public static string DefaultRunDirectory => Environment.IsPrivilegedProcess
        ? Path.Combine(Path.GetTempPath(), "rbee")
        : Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } runtime ? Path.Combine(runtime, "rbee") : Path.Combine(StateDirectory, "run");

    /// <summary>Where a hive looks for models first, unexpanded (the hive's <c>--models-dir</c> default).</summary>
    public const string DefaultModelsDirectory = "~/.cache/rbee/models";

    /// <summary>A hive's own state (worker logs and ready files): <c>~/.local/state/rbee/&lt;hive id&gt;</c>.</summary>
    public static string HiveStateDirectory(string hiveId) => Path.Combine(StateDirectory, hiveId);

    /// <summary>The log file of a daemon the CLI started in the background.</summary>
    public static string DaemonLogFile(string program) => Path.Combine(StateDirectory, "logs", program + ".log");

    /// <summary>The pid file of a daemon the CLI started in the background.</summary>
    public static string DaemonPidFile(string program) => Path.Combine(StateDirectory, program + ".pid");

    /// <summary>Expands a leading <c>~/</c> to the user's home; returns a full path.</summary>
    public static string ExpandHome(string path)
    {
        if (path == "~") return Home;
        if (path.StartsWith("~/", StringComparison.Ordinal)) path = Path.Combine(Home, path[2..]);
        return Path.GetFullPath(path);
    }

    private static string Xdg(string variable, string fallback) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } x ? x : Path.Combine(Home, fallback);
}
