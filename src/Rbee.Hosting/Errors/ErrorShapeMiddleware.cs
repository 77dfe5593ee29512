using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;

namespace Rbee.Hosting.Errors;

/// <summary>
/// Makes every failure of the pipeline answer in OpenAI's error shape (DESIGN.md "Wire contract"): unhandled
/// exceptions (500, message without internals), <see cref="BadHttpRequestException"/> from Kestrel or from
/// minimal-API binding (malformed JSON 400, oversized body 413...), and bare statuses with no body (unknown route
/// 404, 405, 415). Handlers that already wrote a body are left alone.
/// </summary>
public sealed partial class ErrorShapeMiddleware(RequestDelegate next, ILogger<ErrorShapeMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
        }
        catch (BadHttpRequestException e)
        {
            if (context.Response.HasStarted) return;
            var status = e.StatusCode;
            var body = status == StatusCodes.Status413PayloadTooLarge
                ? ApiErrors.ForStatus(413)
                : ErrorResponse.Of(Describe(e), ErrorTypes.InvalidRequest, status == 400 ? "invalid_body" : ApiErrors.ForStatus(status).Error.Code);
            await WriteAsync(context, status, body);
            return;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nobody is left to answer.
            return;
        }
        catch (Exception e)
        {
            Log.Unhandled(logger, context.Request.Method, context.Request.Path.Value ?? "/", e);
            if (context.Response.HasStarted) return;
            await WriteAsync(context, StatusCodes.Status500InternalServerError, ApiErrors.ForStatus(500));
            return;
        }

        var response = context.Response;
        if (response.StatusCode >= 400 && !response.HasStarted && response.ContentLength is null && string.IsNullOrEmpty(response.ContentType))
            await WriteAsync(context, response.StatusCode, ApiErrors.ForStatus(response.StatusCode));
    }

    // Binding failures wrap the JsonException; its message names the path and position, which helps a client.
    private static string Describe(BadHttpRequestException e) =>
        e.InnerException is JsonException j ? $"malformed JSON body: {j.Message}" : e.Message;

    private static Task WriteAsync(HttpContext context, int status, ErrorResponse body)
    {
        context.Response.Clear();
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(body, RbeeJsonContext.Default.ErrorResponse, contentType: "application/json");
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = HostingEventIds.UnhandledError, Level = LogLevel.Error, Message = "Unhandled error on {Method} {Path}")]
        public static partial void Unhandled(ILogger logger, string method, string path, Exception exception);
    }
}

public static class ErrorShapeExtensions
{
    /// <summary>Adds <see cref="ErrorShapeMiddleware"/>; call first so it wraps everything after it.</summary>
    public static IApplicationBuilder UseRbeeErrorShape(this IApplicationBuilder app) => app.UseMiddleware<ErrorShapeMiddleware>();
}
