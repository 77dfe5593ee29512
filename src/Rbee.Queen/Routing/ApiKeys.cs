using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Rbee.Hosting.Errors;
using Rbee.Hosting.Security;
using Rbee.Platform.Configuration;
using Rbee.Platform.Paths;

namespace Rbee.Queen.Routing;

/// <summary>
/// Who may call the queen's OpenAI endpoints (section <c>Api</c>; DESIGN.md "Security"): a list of API keys
/// (<c>Api:Keys</c>, and/or <c>Api:KeysFile</c> with one key per line, <c>#</c> comments). With none configured only
/// callers from the machine's own addresses are served.
/// </summary>
public sealed class ApiOptions
{
    public const string SectionName = "Api";

    public string[] Keys { get; set; } = [];

    public string? KeysFile { get; set; }

    /// <summary>Largest inference request body (the worker's own default is the same); the control plane keeps its smaller one.</summary>
    public long MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;

    public string? Validate()
    {
        if (MaxRequestBodyBytes < 1024) return "Api:MaxRequestBodyBytes must be at least 1024";
        if (Keys.Any(string.IsNullOrWhiteSpace)) return "Api:Keys must not contain an empty key";
        return null;
    }

    /// <summary>Every configured key: <see cref="Keys"/> and the lines of <see cref="KeysFile"/>.</summary>
    public List<string> LoadKeys()
    {
        var keys = Keys.Select(k => k.Trim()).ToList();
        if (string.IsNullOrWhiteSpace(KeysFile)) return keys;
        var path = RbeePaths.ExpandHome(KeysFile);
        try
        {
            foreach (var line in File.ReadAllLines(path))
            {
                var key = line.Trim();
                if (key.Length > 0 && !key.StartsWith('#')) keys.Add(key);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StartupException($"cannot read Api:KeysFile {path}: {e.Message}");
        }
        return keys;
    }
}

/// <summary>
/// The rule for the OpenAI endpoints: with keys configured, <c>Authorization: Bearer &lt;key&gt;</c> must name one of
/// them (compared as SHA-256 hashes in constant time, so neither a key nor its length leaks); with none configured, only
/// the machine's own addresses. The cluster token is never an API key (start-up refuses a key equal to it, and a caller
/// presenting it is told so), and an API key never opens the control plane (that check knows only the token).
/// </summary>
public sealed partial class ApiKeyAuthorizer
{
    private readonly byte[][] _keyHashes;
    private readonly byte[]? _clusterTokenHash;
    private readonly LocalAddresses _local;
    private readonly ILogger<ApiKeyAuthorizer> _logger;

    public ApiKeyAuthorizer(IReadOnlyCollection<string> keys, ClusterTokenOptions token, LocalAddresses local, ILogger<ApiKeyAuthorizer> logger)
    {
        if (token.Token is { } t && keys.Contains(t, StringComparer.Ordinal))
            throw new StartupException("an API key (Api:Keys / Api:KeysFile) equals the cluster token; the two must differ, or anyone with an API key could control the cluster");
        _keyHashes = keys.Distinct(StringComparer.Ordinal).Select(BearerTokens.Hash).ToArray();
        _clusterTokenHash = token.Token is { } tok ? BearerTokens.Hash(tok) : null;
        _local = local;
        _logger = logger;
    }

    public bool KeysConfigured => _keyHashes.Length > 0;

    /// <summary>Null when the request may go on, else the OpenAI-shaped 401/403 to answer.</summary>
    public IResult? Check(HttpContext context)
    {
        var remote = context.Connection.RemoteIpAddress;
        if (!KeysConfigured)
        {
            if (remote is not null && _local.IsLocal(remote)) return null;
            Log.Refused(_logger, context.Request.Path.Value ?? "/", remote?.ToString() ?? "?", "not a local caller and no API keys configured");
            return ApiErrors.Forbidden("not_local",
                "this queen serves its OpenAI endpoints only to callers on its own machine; configure API keys (Api:Keys or Api:KeysFile) to serve the network");
        }
        var presented = BearerTokens.From(context.Request.Headers.Authorization.ToString());
        if (presented is not null)
        {
            var hash = BearerTokens.Hash(presented);
            foreach (var k in _keyHashes)
                if (BearerTokens.Same(hash, k)) return null;
            if (_clusterTokenHash is not null && BearerTokens.Same(hash, _clusterTokenHash))
            {
                Log.Refused(_logger, context.Request.Path.Value ?? "/", remote?.ToString() ?? "?", "cluster token presented as an API key");
                return InvalidKey("the cluster token is not an API key; use one of the keys in Api:Keys");
            }
        }
        Log.Refused(_logger, context.Request.Path.Value ?? "/", remote?.ToString() ?? "?", presented is null ? "no API key" : "wrong API key");
        return InvalidKey(presented is null
            ? "an API key is required: send Authorization: Bearer <key>"
            : "incorrect API key provided");
    }

    private static IResult InvalidKey(string message) =>
        ApiErrors.Create(StatusCodes.Status401Unauthorized, Rbee.Contracts.Wire.ErrorTypes.Authentication, "invalid_api_key", message);

    private static partial class Log
    {
        // Debug: a remote caller must not be able to flood the operator's log by sending wrong keys.
        [LoggerMessage(EventId = QueenEventIds.ApiRefused, Level = LogLevel.Debug, Message = "Refused OpenAI call {Path} from {Remote}: {Reason}")]
        public static partial void Refused(ILogger logger, string path, string remote, string reason);
    }
}
