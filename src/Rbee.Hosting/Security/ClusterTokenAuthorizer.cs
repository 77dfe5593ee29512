using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Rbee.Hosting.Errors;

namespace Rbee.Hosting.Security;

/// <summary>The outcome of checking one request against the cluster-token rule.</summary>
public enum AccessDecision
{
    Allowed,
    /// <summary>A token is configured and the request did not present it: 401.</summary>
    MissingOrWrongToken,
    /// <summary>No token is configured and the caller is not one of this machine's addresses: 403.</summary>
    NotLocal,
}

/// <summary>
/// The rule of DESIGN.md "Security" for protected endpoints: with a token configured, <c>Authorization: Bearer
/// &lt;token&gt;</c> is required (compared in constant time); with none configured, only callers from one of the
/// machine's own addresses (any local interface, not only loopback) are let in. The token is never logged.
/// </summary>
public sealed partial class ClusterTokenAuthorizer(ClusterTokenOptions options, LocalAddresses localAddresses, ILogger<ClusterTokenAuthorizer> logger)
{
    // Only the token's hash is kept and compared; it is computed once, not on every protected request.
    private readonly byte[]? _tokenHash = options.Token is null ? null : BearerTokens.Hash(options.Token);

    public bool TokenRequired => _tokenHash is not null;

    /// <summary>Pure decision, for unit tests and for handlers that protect only part of an endpoint.</summary>
    public AccessDecision Decide(string? authorizationHeader, IPAddress? remoteAddress)
    {
        if (_tokenHash is not null)
            return PresentsTokenHash(authorizationHeader, _tokenHash) ? AccessDecision.Allowed : AccessDecision.MissingOrWrongToken;
        return remoteAddress is not null && localAddresses.IsLocal(remoteAddress) ? AccessDecision.Allowed : AccessDecision.NotLocal;
    }

    public AccessDecision Decide(HttpContext context) =>
        Decide(context.Request.Headers.Authorization.ToString(), context.Connection.RemoteIpAddress);

    /// <summary>Null when the request may go on, else the error result to answer (401 or 403, OpenAI shape).</summary>
    public IResult? Check(HttpContext context)
    {
        var decision = Decide(context);
        switch (decision)
        {
            case AccessDecision.Allowed:
                return null;
            case AccessDecision.MissingOrWrongToken:
                Log.Refused(logger, context.Request.Method, context.Request.Path.Value ?? "/", context.Connection.RemoteIpAddress?.ToString() ?? "?", "missing or wrong cluster token");
                return ApiErrors.Unauthorized();
            default:
                Log.Refused(logger, context.Request.Method, context.Request.Path.Value ?? "/", context.Connection.RemoteIpAddress?.ToString() ?? "?", "not a local caller and no cluster token configured");
                return ApiErrors.Forbidden("not_local",
                    "no cluster token is configured, so only callers on this machine are accepted; set RBEE_CLUSTER_TOKEN on every daemon to allow remote callers");
        }
    }

    internal static bool PresentsToken(string? header, byte[] token) => PresentsTokenHash(header, SHA256.HashData(token));

    private static bool PresentsTokenHash(string? header, byte[] tokenHash) =>
        BearerTokens.From(header) is { } presented && BearerTokens.Same(BearerTokens.Hash(presented), tokenHash);

    private static partial class Log
    {
        [LoggerMessage(EventId = HostingEventIds.AccessRefused, Level = LogLevel.Warning, Message = "Refused {Method} {Path} from {Remote}: {Reason}")]
        public static partial void Refused(ILogger logger, string method, string path, string remote, string reason);
    }
}
