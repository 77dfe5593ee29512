namespace Rbee.Platform.Configuration;

/// <summary>
/// What a program's configuration looks like from outside (the daemons', and the worker's): its name (config file
/// <c>~/.config/rbee/{Name}.json</c>), its program name (for messages), its friendly flags (<c>--port</c> →
/// <c>Hive:Port</c>), environment variables with names of their own (<c>RBEE_QUEEN_URL</c> → <c>Hive:QueenUrl</c>)
/// and its defaults. <paramref name="ServerFlags"/>: the daemons' common flags (<see cref="CommonFlags"/>) besides
/// <c>--config</c>; the worker, which holds no cluster token and logs its own way, has only <c>--config</c>.
/// </summary>
public sealed record DaemonSpec(
    string Name,
    string ProgramName,
    IReadOnlyDictionary<string, string> FlagAliases,
    IReadOnlyDictionary<string, string>? EnvironmentAliases = null,
    IReadOnlyDictionary<string, string?>? Defaults = null,
    bool ServerFlags = true)
{
    /// <summary>Flags every daemon understands, besides its own.</summary>
    public static readonly IReadOnlyDictionary<string, string> CommonFlags = new Dictionary<string, string>
    {
        ["--config"] = DaemonConfiguration.ConfigFileKey,
        ["--cluster-token-file"] = "ClusterTokenFile",
        ["--log-level"] = "Logging:LogLevel:Default",
    };

    /// <summary>The flags this program understands besides its own: <see cref="CommonFlags"/>, or only <c>--config</c>.</summary>
    public IEnumerable<KeyValuePair<string, string>> Common =>
        ServerFlags ? CommonFlags : CommonFlags.Where(f => f.Key == "--config");
}
