using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Errors;
using Rbee.Queen.Scheduling;
using Rbee.Queen.Telemetry;

namespace Rbee.Queen.Routing;

/// <summary>
/// The queen's OpenAI surface (DESIGN.md "Scheduling and routing"): <c>GET /v1/models</c>, <c>GET /v1/models/{id}</c>,
/// <c>POST /v1/chat/completions</c>, <c>POST /v1/completions</c>, and any other <c>POST /v1/…</c> whose JSON body names
/// a <c>model</c> (embeddings, rerank, images on external engines), all routed the same way. Callers need an API key when
/// keys are configured, else must be on this machine (<see cref="ApiKeyAuthorizer"/>).
/// </summary>
public static class InferenceEndpoints
{
    public static IEndpointRouteBuilder MapInferenceEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/models", ListAsync);
        app.MapGet("/v1/models/{**id}", GetAsync);
        app.MapPost("/v1/chat/completions", context => RouteAsync(context, knownEndpoint: true));
        app.MapPost("/v1/completions", context => RouteAsync(context, knownEndpoint: true));
        // Literal routes (jobs, hive ready, shutdown) take precedence over this catch-all.
        app.MapPost("/v1/{**path}", context => RouteAsync(context, knownEndpoint: false));
        return app;
    }

    private static async Task ListAsync(HttpContext context, ApiKeyAuthorizer auth, Scheduler scheduler, WorkerLoads loads, TimeProvider time)
    {
        if (auth.Check(context) is { } refused) { await refused.ExecuteAsync(context); return; }
        await Results.Json(ModelList.Build(scheduler.Index.Current, loads, time.GetUtcNow()), RbeeJsonContext.Default.OpenAiModelList)
            .ExecuteAsync(context);
    }

    private static async Task GetAsync(HttpContext context, string id, ApiKeyAuthorizer auth, Scheduler scheduler, WorkerLoads loads, TimeProvider time)
    {
        if (auth.Check(context) is { } refused) { await refused.ExecuteAsync(context); return; }
        // The same lookup as a request's: tiny finds tiny:latest, an alias finds the model pulled from its source.
        var entry = scheduler.Index.Current.Resolve(id) is { } presence ? ModelList.Entry(presence, loads, time.GetUtcNow()) : null;
        var missing = entry is null ? SchedulingException.ModelNotFound(id) : null;
        await (missing is not null
            ? ApiErrors.Create(missing.Status, missing.Type, missing.Code, missing.Message, missing.Param)
            : Results.Json(entry!, RbeeJsonContext.Default.OpenAiModel)).ExecuteAsync(context);
    }

    private static async Task RouteAsync(HttpContext context, bool knownEndpoint)
    {
        var services = context.RequestServices;
        if (services.GetRequiredService<ApiKeyAuthorizer>().Check(context, out var caller) is { } refused) { await refused.ExecuteAsync(context); return; }
        var requestId = RequestIds.From(context.Request.Headers["X-Request-Id"].ToString());
        context.Response.Headers["X-Request-Id"] = requestId;
        var timeline = new RequestTimeline(services.GetRequiredService<ClusterEventHub>(), services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<ILoggerFactory>().CreateLogger("Rbee.Queen.Requests"), requestId, context.Request.Path.Value ?? "/",
            services.GetRequiredService<Telemetry.QueenMetrics>());
        InferenceBody body;
        try
        {
            body = await InferenceBody.ReadAsync(context.Request, services.GetRequiredService<ApiOptions>().MaxRequestBodyBytes, context.RequestAborted);
        }
        catch (BadInferenceRequest e)
        {
            // A path the queen does not know and a body with no model is not an inference call at all.
            var (status, code, message) = !knownEndpoint && e.Code is "missing_model" or "invalid_json"
                ? (StatusCodes.Status404NotFound, "not_found", $"no such endpoint: POST {context.Request.Path} (an inference call names a model in a JSON body)")
                : (e.Status, e.Code, e.Message);
            timeline.Rejected(status, message);
            await ApiErrors.Create(status, status == 404 ? ErrorTypes.NotFound : ErrorTypes.InvalidRequest, code, message, e.Param).ExecuteAsync(context);
            return;
        }
        using (body)
        {
            timeline.Model = body.Model;
            timeline.Stream = body.Stream;
            timeline.Received();
            var client = new HttpInferenceClient(context, body, services.GetRequiredService<WorkerForwarder>(), requestId);
            await services.GetRequiredService<InferencePipeline>().RunAsync(body.Model, client, timeline, caller, context.RequestAborted);
        }
    }
}

/// <summary>Request ids: the client's <c>X-Request-Id</c> when it is a sane token, else a new one.</summary>
public static class RequestIds
{
    public static string From(string? header) =>
        header is { Length: > 0 and <= 128 } h && h.All(c => c is > ' ' and < (char)127) ? h : "req-" + Guid.NewGuid().ToString("N");
}
