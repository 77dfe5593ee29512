using Rbee.Platform.Security;

namespace Rbee.Hive.Workers;

/// <summary>
/// The key of the worker on each port of this hive (<see cref="WorkerApiKey"/>, DESIGN.md "Security"): derived from the
/// cluster token and the hive's id, so the queen derives the same one when it forwards. Null without a token.
/// </summary>
public sealed class WorkerKeys(string? clusterToken, string hiveId)
{
    public string? For(int port) => clusterToken is null ? null : WorkerApiKey.Derive(clusterToken, hiveId, port);
}
