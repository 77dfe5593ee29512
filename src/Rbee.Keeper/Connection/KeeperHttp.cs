using Rbee.Platform.Http;

namespace Rbee.Keeper.Connection;

/// <summary>The keeper's client toward the queen and hives: the cluster one, with the token the keeper holds.</summary>
public static class KeeperHttp
{
    /// <summary>The CLI mostly talks to daemons on its own machine: a daemon not accepting within 2 s is not up.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(2);

    public static ClusterHttp Create(string? token) => new(token, ConnectTimeout);
}
