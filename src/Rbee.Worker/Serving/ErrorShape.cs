using System.Text.Json;
using Rbee.Contracts.Wire;

namespace Rbee.Worker.Serving;

/// <summary>
/// The worker's answer to statuses its handlers did not write (DESIGN.md "Wire contract": every status of every daemon
/// in OpenAI's error shape): an unknown route's 404 and a wrong method's 405 come from routing with no body, and so would
/// a body Kestrel refuses while a handler reads it. The worker's own refusals (<see cref="RequestException"/>) already
/// have their body; this is the daemons' <c>ErrorShapeMiddleware</c> for a program without Rbee.Hosting.
/// </summary>
public static class ErrorShape
{
    public static IApplicationBuilder UseWorkerErrorShape(this IApplicationBuilder app) => app.Use(async (ctx, next) =>
    {
        await next(ctx);
        var response = ctx.Response;
        if (response.StatusCode < 400 || response.HasStarted || response.ContentLength is not null || !string.IsNullOrEmpty(response.ContentType))
            return;
        response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(response.Body, ErrorResponse.ForStatus(response.StatusCode), WorkerJson.Error);
    });
}
