namespace Rbee.Hosting.Configuration;

/// <summary>Where rbee keeps per-user files: <c>~/.config/rbee/</c> (XDG_CONFIG_HOME honoured).</summary>
public static class ConfigPaths
{
    public static string Home =>
        Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    public static string ConfigDirectory =>
        Path.Combine(Environment.GetEnvironmentVariable("XDG_CONFIG_HOME") is { Length: > 0 } x ? x : Path.Combine(Home, ".config"), "rbee");

    /// <summary>The default config file of a daemon, e.g. <c>~/.config/rbee/hive.json</c>.</summary>
    public static string DaemonConfigFile(string daemon) => Path.Combine(ConfigDirectory, daemon + ".json");

    /// <summary>Expands a leading <c>~/</c> to the user's home; returns a full path.</summary>
    public static string ExpandHome(string path)
    {
        if (path == "~") return Home;
        if (path.StartsWith("~/", StringComparison.Ordinal)) path = Path.Combine(Home, path[2..]);
        return Path.GetFullPath(path);
    }
}
