namespace Rbee.Keeper.Connection;

/// <summary>
/// Where the keeper keeps its files: the cluster token in <c>~/.config/rbee/token</c> (XDG_CONFIG_HOME honoured),
/// daemon logs and pid files under <c>~/.local/state/rbee/</c> (XDG_STATE_HOME honoured).
/// </summary>
public static class KeeperPaths
{
    public static string Home =>
        Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    public static string ConfigDirectory => Path.Combine(Xdg("XDG_CONFIG_HOME", ".config"), "rbee");

    public static string StateDirectory => Path.Combine(Xdg("XDG_STATE_HOME", Path.Combine(".local", "state")), "rbee");

    public static string TokenFile => Path.Combine(ConfigDirectory, "token");

    public static string LogFile(string program) => Path.Combine(StateDirectory, "logs", program + ".log");

    public static string PidFile(string program) => Path.Combine(StateDirectory, program + ".pid");

    private static string Xdg(string variable, string fallback) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } x ? x : Path.Combine(Home, fallback);
}
