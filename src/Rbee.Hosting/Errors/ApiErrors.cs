using Microsoft.AspNetCore.Http;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;

namespace Rbee.Hosting.Errors;

/// <summary>
/// Results in OpenAI's error shape (DESIGN.md "Wire contract": every endpoint of every daemon), one factory per
/// status so handlers read as the rule they enforce: <c>return ApiErrors.BadRequest("invalid_url", "...", "queen_url");</c>
/// </summary>
public static class ApiErrors
{
    public static IResult BadRequest(string code, string message, string? param = null) =>
        Create(StatusCodes.Status400BadRequest, ErrorTypes.InvalidRequest, code, message, param);

    public static IResult Unauthorized(string message = "a valid cluster token is required (Authorization: Bearer <token>)") =>
        Create(StatusCodes.Status401Unauthorized, ErrorTypes.Authentication, "invalid_cluster_token", message);

    public static IResult Forbidden(string code, string message) =>
        Create(StatusCodes.Status403Forbidden, ErrorTypes.Permission, code, message);

    public static IResult NotFound(string code, string message, string? param = null) =>
        Create(StatusCodes.Status404NotFound, ErrorTypes.NotFound, code, message, param);

    public static IResult MethodNotAllowed(string message = "method not allowed on this path") =>
        Create(StatusCodes.Status405MethodNotAllowed, ErrorTypes.InvalidRequest, "method_not_allowed", message);

    public static IResult Conflict(string code, string message, string? param = null) =>
        Create(StatusCodes.Status409Conflict, ErrorTypes.Conflict, code, message, param);

    public static IResult PayloadTooLarge(string message = "request body too large") =>
        Create(StatusCodes.Status413PayloadTooLarge, ErrorTypes.InvalidRequest, "payload_too_large", message);

    public static IResult TooManyRequests(string code, string message) =>
        Create(StatusCodes.Status429TooManyRequests, ErrorTypes.RateLimit, code, message);

    public static IResult ServerError(string message = "internal error") =>
        Create(StatusCodes.Status500InternalServerError, ErrorTypes.Server, "internal_error", message);

    public static IResult Unavailable(string code, string message) =>
        Create(StatusCodes.Status503ServiceUnavailable, ErrorTypes.Unavailable, code, message);

    /// <summary>An error result with any status; <paramref name="type"/> is one of <see cref="ErrorTypes"/>.</summary>
    public static IResult Create(int status, string type, string code, string message, string? param = null) =>
        Results.Json(ErrorResponse.Of(message, type, code, param), RbeeJsonContext.Default.ErrorResponse, statusCode: status);

    /// <summary>The error body the shape middleware writes for a bare status (404 route, 405, 413...).</summary>
    public static ErrorResponse ForStatus(int status) => ErrorResponse.ForStatus(status);
}
