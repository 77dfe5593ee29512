using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Errors;
using Rbee.Hosting.Security;
using Rbee.Hosting.Sse;

namespace Rbee.Hosting.Jobs;

/// <summary>
/// <c>POST /v1/jobs</c>, <c>GET /v1/jobs/{id}/stream</c>, <c>DELETE /v1/jobs/{id}</c> (DESIGN.md "Jobs"), the same on
/// queen and hive; each daemon brings its own <see cref="IJobOperations"/>.
/// </summary>
public static class JobEndpoints
{
    /// <summary>Registers the job registry and its options. The daemon registers its <see cref="IJobOperations"/>.</summary>
    public static IServiceCollection AddJobs(this IServiceCollection services)
    {
        services.AddOptions<JobOptions>().BindConfiguration(JobOptions.SectionName)
            .Validate(o => o.Validate() is null, "invalid Jobs options").ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<JobRegistry>();
        return services;
    }

    /// <summary>Maps the job endpoints and returns their group, so the daemon can add its token filter to it.</summary>
    public static RouteGroupBuilder MapJobs(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/jobs");
        group.MapPost("", CreateAsync);
        group.MapGet("/{id}/stream", StreamAsync);
        group.MapDelete("/{id}", Cancel);
        return group;
    }

    private static async Task<IResult> CreateAsync(HttpContext http, JobRegistry registry, IJobOperations operations, IOptions<JobOptions> options)
    {
        var limit = options.Value.MaxRequestBytes;
        if (http.Request.ContentLength > limit)
            return ApiErrors.Create(StatusCodes.Status413PayloadTooLarge, ErrorTypes.InvalidRequest, "request_too_large", $"job request larger than {limit} bytes");

        JsonDocument doc;
        try
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[8192];
            int n;
            while ((n = await http.Request.Body.ReadAsync(chunk, http.RequestAborted)) > 0)
            {
                if (buffer.Length + n > limit)
                    return ApiErrors.Create(StatusCodes.Status413PayloadTooLarge, ErrorTypes.InvalidRequest, "request_too_large", $"job request larger than {limit} bytes");
                buffer.Write(chunk, 0, n);
            }
            if (buffer.Length == 0) return Invalid("the job request body is empty; send {\"operation\": \"...\"}", null, "missing_body");
            doc = JsonDocument.Parse(buffer.ToArray());
        }
        catch (JsonException e)
        {
            return Invalid($"the job request is not valid JSON: {e.Message}", null, "malformed_json");
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return Invalid("the job request must be a JSON object", null, "malformed_json");
            if (!root.TryGetProperty("operation", out var op) || op.ValueKind != JsonValueKind.String)
                return Invalid("'operation' is required and must be a string, e.g. \"worker_spawn\"", "operation", "missing_operation");
            if (!JsonText.TryGetString(op, out var operation)) return Invalid($"'operation' {JsonText.NotText}", "operation", "invalid_encoding");
            if (string.IsNullOrWhiteSpace(operation))
                return Invalid("'operation' is required and must be a string, e.g. \"worker_spawn\"", "operation", "missing_operation");

            // The plan reads what it needs now; the work must not hold on to the document, which is disposed here.
            var plan = operations.Plan(operation, root.Clone(), ControlCaller.Of(http));
            if (plan.Work is null) return Invalid(plan.Error ?? "invalid job request", plan.Param, plan.Code);

            var job = registry.Start(operation, plan.Work);
            if (job is null) return ApiErrors.TooManyRequests("too_many_jobs", "too many jobs held; try again later");
            return Results.Json(new JobAccepted(job.Id, $"/v1/jobs/{job.Id}/stream"), RbeeJsonContext.Default.JobAccepted, statusCode: StatusCodes.Status202Accepted);
        }
    }

    private static async Task StreamAsync(HttpContext http, string id, JobRegistry registry)
    {
        if (!registry.TryGet(id, out var job))
        {
            await NotFound(id).ExecuteAsync(http);
            return;
        }
        try
        {
            var sse = await SseResponse.StartAsync(http.Response, http.RequestAborted);
            await foreach (var e in job.ReadAllAsync(http.RequestAborted))
            {
                var (name, data) = ToSse(e);
                await sse.WriteDataAsync(data, http.RequestAborted, name);
            }
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The subscriber left; the job goes on.
        }
    }

    /// <summary>
    /// The SSE event name and data of one job event (DESIGN.md "Wire contract": narration as plain <c>data:</c>,
    /// structured events as <c>event: data</c>, then exactly one terminal line).
    /// </summary>
    public static (string? Event, string Data) ToSse(JobEvent e) => e.Kind switch
    {
        JobEventKind.Narration => (null, e.Text),
        JobEventKind.Data => ("data", e.Text),
        JobEventKind.Done => (null, JobStreamMarkers.Done),
        JobEventKind.Error => (null, $"{JobStreamMarkers.Error} {e.Text}"),
        JobEventKind.Cancelled => (null, JobStreamMarkers.Cancelled),
        _ => throw new ArgumentOutOfRangeException(nameof(e)),
    };

    private static IResult Cancel(string id, JobRegistry registry)
    {
        if (!registry.TryGet(id, out var job)) return NotFound(id);
        if (job.IsFinished)
            return ApiErrors.Conflict("job_finished", $"job {id} has already finished");
        registry.Cancel(id);
        return Results.Json(new JobAccepted(job.Id, $"/v1/jobs/{job.Id}/stream"), RbeeJsonContext.Default.JobAccepted, statusCode: StatusCodes.Status202Accepted);
    }

    private static IResult NotFound(string id) =>
        ApiErrors.NotFound("job_not_found", $"no job {id} (unknown, or finished long enough ago to be forgotten)");

    private static IResult Invalid(string message, string? param, string code) => ApiErrors.BadRequest(code, message, param);
}
