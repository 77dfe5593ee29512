using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Rbee.Hosting.Errors;
using Rbee.Hosting.Logging;

namespace Rbee.Hosting.Security;

/// <summary>The outcome of checking one request against the cluster-token rule.</summary>
public enum AccessDecision
{
    Allowed,
    /// <summary>The request did not present the cluster token: 401.</summary>
    MissingOrWrongToken,
}

/// <summary>
/// The rule of DESIGN.md "Security" for control endpoints: <c>Authorization: Bearer &lt;token&gt;</c> is required from
/// every caller, loopback included (compared in constant time). There is no exemption for the machine's own addresses:
/// an unprivileged user on the same machine is a local caller too, and must not drive a hive that runs as root. A daemon
/// always has a token (<see cref="ClusterTokenOptions.Resolve"/> creates the shared file when none is configured); one
/// without (options never resolved) refuses everything. The token is never logged.
/// </summary>
public sealed partial class ClusterTokenAuthorizer(ClusterTokenOptions options, ILogger<ClusterTokenAuthorizer> logger, TimeProvider? time = null)
{
    /// <summary>Refusals from one address are logged once per this, with the count held back in between.</summary>
    public static readonly TimeSpan RefusalLogInterval = TimeSpan.FromSeconds(10);

    private readonly LogThrottle _refusals = new(time ?? TimeProvider.System, RefusalLogInterval);

    // Only the token's hash is kept and compared; it is computed once, not on every protected request.
    private readonly byte[]? _tokenHash = options.Token is null ? null : BearerTokens.Hash(options.Token);

    /// <summary>Pure decision, for unit tests and for handlers that protect only part of an endpoint.</summary>
    public AccessDecision Decide(string? authorizationHeader) =>
        _tokenHash is not null && PresentsTokenHash(authorizationHeader, _tokenHash) ? AccessDecision.Allowed : AccessDecision.MissingOrWrongToken;

    public AccessDecision Decide(HttpContext context) => Decide(context.Request.Headers.Authorization.ToString());

    /// <summary>Null when the request may go on, else the error result to answer (401 or 403, OpenAI shape).</summary>
    public IResult? Check(HttpContext context)
    {
        if (Decide(context) == AccessDecision.Allowed) return null;
        var remote = context.Connection.RemoteIpAddress?.ToString() ?? "?";
        if (_refusals.TryEnter(remote, out var held))
            Log.Refused(logger, context.Request.Method, context.Request.Path.Value ?? "/", remote, "missing or wrong cluster token", held);
        return ApiErrors.Unauthorized();
    }

    internal static bool PresentsToken(string? header, byte[] token) => PresentsTokenHash(header, SHA256.HashData(token));

    private static bool PresentsTokenHash(string? header, byte[] tokenHash) =>
        BearerTokens.From(header) is { } presented && BearerTokens.Same(BearerTokens.Hash(presented), tokenHash);

    private static partial class Log
    {
        [LoggerMessage(EventId = HostingEventIds.AccessRefused, Level = LogLevel.Warning,
            Message = "Refused {Method} {Path} from {Remote}: {Reason} ({Held} more refusals from this address since the last line)")]
        public static partial void Refused(ILogger logger, string method, string path, string remote, string reason, long held);
    }
}
