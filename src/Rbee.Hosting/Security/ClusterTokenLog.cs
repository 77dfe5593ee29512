using Microsoft.Extensions.Logging;

namespace Rbee.Hosting.Security;

/// <summary>Says at start-up where the cluster token came from: a path or a source name, never the value.</summary>
internal static partial class ClusterTokenLog
{
    public static void Announce(ILogger logger, ClusterTokenOptions token)
    {
        if (token.CreatedFile is { } created) TokenCreated(logger, created);
        else if (token.Token is not null) TokenSource(logger, token.Source);
    }

    [LoggerMessage(EventId = HostingEventIds.ClusterTokenCreated, Level = LogLevel.Information,
        Message = "No cluster token was configured: created {Path} (mode 0600); control calls need it as a bearer, from this machine too")]
    private static partial void TokenCreated(ILogger logger, string path);

    [LoggerMessage(EventId = HostingEventIds.ClusterTokenSource, Level = LogLevel.Information,
        Message = "Cluster token from {Source}; control calls need it as a bearer, from this machine too")]
    private static partial void TokenSource(ILogger logger, string source);
}
