using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Rbee.Hosting.Errors;
using Rbee.Hosting.Security;
using Rbee.Platform.Configuration;
using Rbee.Platform.Paths;
using Rbee.Queen.Audit;

namespace Rbee.Queen.Routing;

/// <summary>
/// Who may call the queen's OpenAI endpoints (section <c>Api</c>; DESIGN.md "Security"): a list of API keys
/// (<c>Api:Keys</c>, and/or <c>Api:KeysFile</c> with one key per line, <c>#</c> comments), each optionally named
/// (<see cref="ApiKey.Parse"/>: <c>KEY NAME</c>). With none configured only callers from the machine's own addresses are
/// served.
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

    /// <summary>Every configured key: <see cref="Keys"/> and the lines of <see cref="KeysFile"/>; a malformed name stops
    /// start-up with the entry's place (never its text, which holds a key).</summary>
    public List<ApiKey> LoadKeys()
    {
        var keys = Keys.Select((k, i) => ApiKey.Parse(k, $"Api:Keys:{i}")).ToList();
        if (string.IsNullOrWhiteSpace(KeysFile)) return keys;
        var path = RbeePaths.ExpandHome(KeysFile);
        try
        {
            var number = 0;
            foreach (var line in File.ReadAllLines(path))
            {
                number++;
                var text = line.Trim();
                if (text.Length > 0 && !text.StartsWith('#')) keys.Add(ApiKey.Parse(text, $"Api:KeysFile {path} line {number}"));
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
/// One API key and the name the audit log knows it by (docs/routing.md "API keys"). An entry is <c>KEY</c> or
/// <c>KEY NAME</c>: the key, then blanks (spaces or tabs), then its name, 1-64 letters, digits, <c>.</c>, <c>_</c>,
/// <c>@</c> or <c>-</c>. Blanks split them because a bearer token never holds one (RFC 6750 <c>b64token</c>), so a plain
/// one-key-per-line file of today reads as it did. A key without a name is called by its fingerprint,
/// <c>key-</c> and the first 8 hex digits of its SHA-256: enough to tell keys apart in a log, nothing to guess the key by.
/// </summary>
public sealed partial record ApiKey(string Secret, string Name)
{
    public static ApiKey Parse(string entry, string where)
    {
        var text = entry.Trim();
        var blank = text.AsSpan().IndexOfAny(' ', '\t');
        if (blank < 0) return new(text, Fingerprint(text));
        var name = text[blank..].Trim();
        if (!NamePattern().IsMatch(name))
            throw new StartupException($"{where}: what follows the API key must be its name, 1-64 letters, digits, '.', '_', '@' or '-' (a key holds no blanks)");
        return new(text[..blank], name);
    }

    /// <summary><c>key-</c> and the first 8 hex digits of the key's SHA-256.</summary>
    public static string Fingerprint(string secret) => "key-" + Convert.ToHexStringLower(BearerTokens.Hash(secret))[..8];

    /// <summary>The name only: a key must never reach a log through a record's printout.</summary>
    public override string ToString() => Name;

    [GeneratedRegex("^[A-Za-z0-9._@-]{1,64}$")]
    private static partial Regex NamePattern();
}

/// <summary>
/// The rule for the OpenAI endpoints: with keys configured, <c>Authorization: Bearer &lt;key&gt;</c> must name one of
/// them (compared as SHA-256 hashes in constant time, so neither a key nor its length leaks); with none configured, only
/// the machine's own addresses. The cluster token is never an API key (start-up refuses a key equal to it, and a caller
/// presenting it is told so), and an API key never opens the control plane (that check knows only the token).
/// </summary>
public sealed partial class ApiKeyAuthorizer
{
    private readonly (byte[] Hash, Actor Caller)[] _keys;
    private readonly byte[]? _clusterTokenHash;
    private readonly LocalAddresses _local;
    private readonly ILogger<ApiKeyAuthorizer> _logger;

    public ApiKeyAuthorizer(IReadOnlyCollection<ApiKey> keys, ClusterTokenOptions token, LocalAddresses local, ILogger<ApiKeyAuthorizer> logger)
    {
        if (token.Token is { } t && keys.Any(k => k.Secret == t))
            throw new StartupException("an API key (Api:Keys / Api:KeysFile) equals the cluster token; the two must differ, or anyone with an API key could control the cluster");
        // A key listed twice is known by its first name.
        _keys = keys.DistinctBy(k => k.Secret, StringComparer.Ordinal).Select(k => (BearerTokens.Hash(k.Secret), Actor.ApiKey(k.Name))).ToArray();
        _clusterTokenHash = token.Token is { } tok ? BearerTokens.Hash(tok) : null;
        _local = local;
        _logger = logger;
    }

    public bool KeysConfigured => _keys.Length > 0;

    /// <summary>Null when the request may go on, else the OpenAI-shaped 401/403 to answer.</summary>
    public IResult? Check(HttpContext context) => Check(context, out _);

    /// <summary>As <see cref="Check(HttpContext)"/>, and who the caller is when it may go on: its key's name, or a local
    /// caller when no keys are configured (the audit log's actor for what its request makes the queen do).</summary>
    public IResult? Check(HttpContext context, out Actor caller)
    {
        caller = Actor.Unknown;
        var remote = context.Connection.RemoteIpAddress;
        if (!KeysConfigured)
        {
            if (remote is not null && _local.IsLocal(remote))
            {
                caller = Actor.LocalCaller;
                return null;
            }
            Log.Refused(_logger, context.Request.Path.Value ?? "/", remote?.ToString() ?? "?", "not a local caller and no API keys configured");
            return ApiErrors.Forbidden("not_local",
                "this queen serves its OpenAI endpoints only to callers on its own machine; configure API keys (Api:Keys or Api:KeysFile) to serve the network");
        }
        var presented = BearerTokens.From(context.Request.Headers.Authorization.ToString());
        if (presented is not null)
        {
            var hash = BearerTokens.Hash(presented);
            // Every key is compared, so the time taken says nothing about which one matched.
            Actor? match = null;
            foreach (var (k, who) in _keys)
                if (BearerTokens.Same(hash, k)) match ??= who;
            if (match is not null)
            {
                caller = match;
                return null;
            }
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
