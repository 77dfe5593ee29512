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
    /// The machine-wide run directory (<c>$TMPDIR/rbee</c>, i.e. <c>/tmp/rbee</c>): every hive on the machine locks its
    /// worker ports in <c>ports/</c> below it, so they must agree on it without configuration; a temporary directory is
    /// writable by an unprivileged hive, where <c>/run</c> is not.
    /// </summary>
    public static string DefaultRunDirectory => Path.Combine(Path.GetTempPath(), "rbee");

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
