using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hive.Workers;
using Rbee.Hosting.Jobs;

namespace Rbee.Hive.Jobs;

public static class HiveJobEndpoints
{
    /// <summary>
    /// Maps <c>/v1/jobs*</c> and <c>POST /v1/shutdown</c> and returns their group, so Program.cs protects both with the
    /// cluster token (DESIGN.md "Security").
    /// </summary>
    public static RouteGroupBuilder MapHiveJobs(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("");
        group.MapJobs();
        group.MapPost("/v1/shutdown", ShutdownAsync);
        return group;
    }

    /// <summary>
    /// <c>POST /v1/shutdown {"stop_workers":true}</c>: stops every worker (bounded, verified) before answering, then
    /// stops the hive; with <c>false</c> the workers stay for re-adoption (DESIGN.md "Workers under the hive", Stop).
    /// </summary>
    private static async Task<IResult> ShutdownAsync(HttpContext http, WorkerSupervisor supervisor, WorkersLifetime lifetime, IHostApplicationLifetime host)
    {
        var stopWorkers = true;
        if (http.Request.ContentLength is > 0 || http.Request.Headers.TransferEncoding.Count > 0)
        {
            try
            {
                var body = await JsonSerializer.DeserializeAsync(http.Request.Body, RbeeJsonContext.Default.JsonElement, http.RequestAborted);
                if (body.ValueKind == JsonValueKind.Object)
                {
                    var flag = JobFields.Bool(body, "stop_workers", out var err);
                    if (err is not null) return Error(400, err, "invalid_field", "stop_workers");
                    stopWorkers = flag ?? true;
                }
                else if (body.ValueKind != JsonValueKind.Null) return Error(400, "the body must be a JSON object", "malformed_json", null);
            }
            catch (JsonException e)
            {
                return Error(400, $"the body is not valid JSON: {e.Message}", "malformed_json", null);
            }
        }

        var stopped = 0;
        if (stopWorkers)
        {
            try { stopped = await supervisor.StopAllAsync(http.RequestAborted); }
            catch (WorkerOperationException e) { return Error(500, e.Message, "workers_left", null, ErrorTypes.Server); }
        }
        // The workers are already handled here; the host's own stop must not stop (or keep) them a second time.
        lifetime.KeepWorkersThisTime = true;
        host.StopApplication();
        return Results.Json(new Dictionary<string, string>
        {
            ["status"] = "stopping",
            ["workers_stopped"] = stopped.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["workers_kept"] = stopWorkers ? "0" : "all",
        }, RbeeJsonContext.Default.DictionaryStringString);
    }

    private static IResult Error(int status, string message, string code, string? param, string type = ErrorTypes.InvalidRequest) =>
        Results.Json(ErrorResponse.Of(message, type, code, param), RbeeJsonContext.Default.ErrorResponse, statusCode: status);
}
