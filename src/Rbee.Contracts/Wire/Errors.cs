namespace Rbee.Contracts.Wire;

/// <summary>OpenAI's error shape, used by every endpoint of every daemon (DESIGN.md "Wire contract").</summary>
public sealed record ErrorResponse(ErrorBody Error)
{
    public static ErrorResponse Of(string message, string type, string code, string? param = null) =>
        new(new ErrorBody(message, type, code, param));
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
