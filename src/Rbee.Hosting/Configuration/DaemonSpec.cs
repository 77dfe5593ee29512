namespace Rbee.Hosting.Configuration;

/// <summary>
/// What a daemon's configuration looks like from outside: its name (config file <c>~/.config/rbee/{Name}.json</c>),
/// its program name (for messages), its friendly flags (<c>--port</c> → <c>Hive:Port</c>), environment variables
/// with names of their own (<c>RBEE_QUEEN_URL</c> → <c>Hive:QueenUrl</c>) and its defaults.
/// </summary>
public sealed record DaemonSpec(
    string Name,
    string ProgramName,
    IReadOnlyDictionary<string, string> FlagAliases,
    IReadOnlyDictionary<string, string>? EnvironmentAliases = null,
    IReadOnlyDictionary<string, string?>? Defaults = null)
{
    /// <summary>Flags every daemon understands, besides its own.</summary>
    public static readonly IReadOnlyDictionary<string, string> CommonFlags = new Dictionary<string, string>
    {
        ["--config"] = DaemonConfiguration.ConfigFileKey,
        ["--cluster-token-file"] = "ClusterTokenFile",
        ["--log-level"] = "Logging:LogLevel:Default",
    };
}
