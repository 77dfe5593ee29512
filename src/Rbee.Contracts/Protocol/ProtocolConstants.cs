namespace Rbee.Contracts.Protocol;

/// <summary>
/// The fixed facts of the rbee protocol (DESIGN.md "Discovery and telemetry"). Tunables that tests scale
/// down live in <see cref="ProtocolOptions"/>; these are the values every daemon agrees on.
/// </summary>
public static class ProtocolConstants
{
    /// <summary>Protocol version carried by ready and capabilities. A hive with another one is <c>incompatible</c>.</summary>
    public const int ProtocolVersion = 1;

    /// <summary>The header of a log answer (<c>GET …/logs</c>) that names the file it is read from.</summary>
    public const string LogPathHeader = "X-Rbee-Log-Path";

    public const int QueenPort = 7833;
    public const int HivePort = 7835;
    public const int LlmWorkerBasePort = 8080;
    public const int LlamaCppBasePort = 8080;
    public const int VllmBasePort = 8000;
    public const int ComfyBasePort = 8188;

    public const string DefaultQueenUrl = "http://localhost:7833";

    /// <summary>Environment variable holding the shared cluster token (DESIGN.md "Security").</summary>
    public const string ClusterTokenEnvironmentVariable = "RBEE_CLUSTER_TOKEN";

    /// <summary>Prefix of every environment variable the daemons bind to their options.</summary>
    public const string EnvironmentPrefix = "RBEE_";

    public static string Version { get; } =
        typeof(ProtocolConstants).Assembly.GetName().Version is { } v ? $"{v.Major}.{v.Minor}.{v.Build}" : "0.0.0";
}
