namespace Rbee.Contracts.Wire;

/// <summary>OpenAI's error shape, used by every endpoint of every daemon (DESIGN.md "Wire contract").</summary>
public sealed record ErrorResponse(ErrorBody Error)
{
    public static ErrorResponse Of(string message, string type, string code, string? param = null) =>
        new(new ErrorBody(message, type, code, param));

    /// <summary>The body for a status a daemon's framework answered without one (unknown route 404, 405, 413...): every
    /// daemon writes these, so a client never meets an empty error.</summary>
    public static ErrorResponse ForStatus(int status) => status switch
    {
        400 => Of("bad request", ErrorTypes.InvalidRequest, "bad_request"),
        401 => Of("authentication required", ErrorTypes.Authentication, "unauthorized"),
        403 => Of("forbidden", ErrorTypes.Permission, "forbidden"),
        404 => Of("no such endpoint", ErrorTypes.NotFound, "not_found"),
        405 => Of("method not allowed on this path", ErrorTypes.InvalidRequest, "method_not_allowed"),
        408 => Of("request timed out", ErrorTypes.InvalidRequest, "request_timeout"),
        411 => Of("Content-Length required", ErrorTypes.InvalidRequest, "length_required"),
        413 => Of("request body too large", ErrorTypes.InvalidRequest, "payload_too_large"),
        414 => Of("request URL too long", ErrorTypes.InvalidRequest, "uri_too_long"),
        415 => Of("unsupported media type (send application/json)", ErrorTypes.InvalidRequest, "unsupported_media_type"),
        429 => Of("too many requests", ErrorTypes.RateLimit, "rate_limited"),
        431 => Of("request headers too large", ErrorTypes.InvalidRequest, "headers_too_large"),
        503 => Of("service unavailable", ErrorTypes.Unavailable, "unavailable"),
        >= 500 => Of("internal error", ErrorTypes.Server, "internal_error"),
        _ => Of($"request failed with status {status}", ErrorTypes.InvalidRequest, "request_failed"),
    };
}

public sealed record ErrorBody(string Message, string Type, string Code, string? Param);

/// <summary>The <c>type</c> values of <see cref="ErrorBody"/>.</summary>
public static class ErrorTypes
{
    public const string InvalidRequest = "invalid_request_error";
    public const string Authentication = "authentication_error";
    public const string Permission = "permission_error";
    public const string NotFound = "not_found_error";
    public const string Conflict = "conflict_error";
    public const string RateLimit = "rate_limit_error";
    public const string Server = "server_error";
    public const string Unavailable = "service_unavailable";
}
