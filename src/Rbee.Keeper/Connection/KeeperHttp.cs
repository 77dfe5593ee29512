using Rbee.Contracts.Protocol;
using Rbee.Platform.Http;

namespace Rbee.Keeper.Connection;

/// <summary>
/// The keeper's client toward the queen and hives: the cluster one, with the token the keeper holds, and the OS user and
/// host it runs as (<see cref="ClaimedUser.Header"/>, <c>alice@laptop</c>) so the queen's audit log can say who asked. The
/// name is a claim, not a credential: the token is what the daemons check.
/// </summary>
public static class KeeperHttp
{
    /// <summary>The CLI mostly talks to daemons on its own machine: a daemon not accepting within 2 s is not up.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(2);

    public static ClusterHttp Create(string? token)
    {
        var http = new ClusterHttp(token, ConnectTimeout);
        // A user or host name beyond printable ASCII is not sent at all (a header must be ASCII; the queen would drop it).
        if (ClaimedUser.OfThisProcess() is { } user) http.Client.DefaultRequestHeaders.TryAddWithoutValidation(ClaimedUser.Header, user);
        return http;
    }
}
