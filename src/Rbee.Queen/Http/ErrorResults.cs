using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;

namespace Rbee.Queen.Http;

/// <summary>Writes OpenAI's error shape (DESIGN.md "Wire contract"), the answer of every failing endpoint.</summary>
internal static class ErrorResults
{
    public static IResult Error(int status, string message, string type, string code, string? param = null) =>
        Results.Json(ErrorResponse.Of(message, type, code, param), RbeeJsonContext.Default.ErrorResponse, statusCode: status);

    public static IResult BadRequest(string message, string code, string? param = null) =>
        Error(StatusCodes.Status400BadRequest, message, ErrorTypes.InvalidRequest, code, param);

    public static Task WriteAsync(HttpContext context, int status, string message, string type, string code)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(
            ErrorResponse.Of(message, type, code), RbeeJsonContext.Default.ErrorResponse)).AsTask();
    }

    /// <summary>Error type and code for a bare status produced by the framework (404 route, 405 method, 413 body).</summary>
    public static (string Type, string Code, string Message) ForStatus(int status) => status switch
    {
        404 => (ErrorTypes.NotFound, "not_found", "no such endpoint"),
        405 => (ErrorTypes.InvalidRequest, "method_not_allowed", "method not allowed on this endpoint"),
        413 => (ErrorTypes.InvalidRequest, "body_too_large", "request body too large"),
        401 => (ErrorTypes.Authentication, "unauthorized", "missing or wrong cluster token"),
        403 => (ErrorTypes.Permission, "forbidden", "forbidden"),
        >= 500 => (ErrorTypes.Server, "server_error", "internal error"),
        _ => (ErrorTypes.InvalidRequest, "bad_request", "bad request"),
    };
}
