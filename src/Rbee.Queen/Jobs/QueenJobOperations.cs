using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Platform.Http;
using Rbee.Platform.Sse;
using Rbee.Hosting.Security;
using Rbee.Queen.Audit;
using Rbee.Queen.Cluster;
using Rbee.Queen.Models;

namespace Rbee.Queen.Jobs;

/// <summary>Tunables of the queen's forwarded jobs (section <c>QueenJobs</c>).</summary>
public sealed class QueenJobOptions
{
    public const string SectionName = "QueenJobs";

    /// <summary>How long after the hive's job ended the queen waits to see the result in its own telemetry view.</summary>
    public TimeSpan ViewTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Bound on posting a job to a hive (the job's stream itself lasts as long as the hive's job).</summary>
    public TimeSpan ForwardTimeout { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// The queen's jobs that act on a hive (DESIGN.md "Jobs", "Workers under the hive"): <c>worker_spawn</c> and
/// <c>worker_stop</c> (and <c>worker_list</c>/<c>hive_check</c> with a <c>hive_id</c>) are forwarded to that hive's
/// <c>/v1/jobs</c>; its narration is relayed line by line into the queen's job. A spawn completes only when the worker's
/// ready state has reached the queen's own cluster view, a stop when the worker has left it: awaited with
/// <see cref="ClusterRegistry.WaitForAsync"/> on the view's snapshots, never by polling the worker (seed 004's five-minute
/// poll is what this replaces).
/// <c>worker_list</c> without a hive lists every worker of the cluster view. The model operations
/// (<c>model_download</c>, <c>model_list</c>, <c>model_delete</c>) are <see cref="ModelJobs"/>'s, <c>infer</c> is
/// <see cref="Rbee.Queen.Routing.InferJob"/>'s.
/// </summary>
public sealed class QueenJobOperations(ClusterRegistry registry, IWorkerLoadView load, HiveForwarder hives, IOptions<QueenJobOptions> options,
    Rbee.Queen.Routing.InferJob infer, ModelJobs models, Rbee.Queen.Remote.ManagedHiveJobs managed, AuditLog audit) : IJobOperations
{
    /// <summary>The operations that change what runs or what is stored: each accepted one is a line of the audit log.</summary>
    private static readonly string[] Audited = [JobOperations.WorkerSpawn, JobOperations.WorkerStop, JobOperations.ModelDownload, JobOperations.ModelDelete];

    public JobPlan Plan(string operation, JsonElement request) => Plan(operation, request, ControlCaller.Unknown);

    /// <summary>Plans the job; one that changes what runs or what is stored is audited with <paramref name="caller"/>, who
    /// also stands behind what the job itself does (an <c>infer</c>'s cold start, a <c>hive_manage</c>).</summary>
    public JobPlan Plan(string operation, JsonElement request, ControlCaller caller)
    {
        var actor = Actor.Of(caller);
        var plan = PlanOperation(operation, request, actor);
        if (plan.Work is not null && Audited.Contains(operation))
        {
            string? Field(string name) => request.ValueKind == JsonValueKind.Object && request.TryGetProperty(name, out var v)
                && v.ValueKind is JsonValueKind.String or JsonValueKind.Number ? v.ToString() : null;
            var target = string.Join(' ', new[] { Field("hive_id"), Field("model") ?? Field("source") ?? Field("name"), Field("port") is { } p ? "port " + p : null }
                .Where(x => x is not null));
            audit.Write(actor, operation, target.Length == 0 ? "(all)" : target);
        }
        return plan;
    }

    private static readonly string[] Forwarded = [JobOperations.WorkerSpawn, JobOperations.WorkerStop, JobOperations.WorkerList, JobOperations.HiveCheck];

    private JobPlan PlanOperation(string operation, JsonElement request, Actor actor)
    {
        switch (operation)
        {
            case JobOperations.Infer: return infer.Plan(request, actor);
            case JobOperations.ModelDownload: return models.PlanDownload(request);
            case JobOperations.ModelList: return models.PlanList(request);
            case JobOperations.ModelDelete: return models.PlanDelete(request);
            case JobOperations.HiveManage: return managed.PlanManage(request, actor);
            case JobOperations.HiveUnmanage: return managed.PlanUnmanage(request, actor);
        }
        if (!Forwarded.Contains(operation)) return JobPlan.UnknownOperation(operation);
        var hiveId = JobFields.String(request, "hive_id", out var err);
        if (err is not null) return JobPlan.Invalid(err, "hive_id");
        if (hiveId is null)
        {
            if (operation == JobOperations.WorkerList) return JobPlan.Run(ListClusterAsync);
            return JobPlan.Invalid($"'hive_id' is required for {operation} at the queen: name the hive (see GET /v1/cluster)", "hive_id", "missing_field");
        }
        if (registry.Current.Find(hiveId) is null)
            return JobPlan.Invalid($"the queen knows no hive '{hiveId}' (see GET /v1/cluster)", "hive_id", "hive_not_found");
        var body = request.GetRawText();
        return JobPlan.Run((job, ct) => ForwardAsync(job, operation, hiveId, body, ct));
    }

    private Task ListClusterAsync(Job job, CancellationToken ct)
    {
        var snapshot = registry.Current;
        var count = 0;
        foreach (var hive in snapshot.Hives.Values)
            foreach (var w in hive.Workers)
            {
                count++;
                job.Narrate($"{hive.HiveId} {w.Group}/{w.Instance} pid {w.Pid} {w.State} model {w.Model ?? "?"}");
                job.Data(ClusterViews.Worker(hive, w, load), RbeeJsonContext.Default.ProcessStats);
            }
        job.Narrate(count == 0 ? "no workers in the cluster" : $"{count} worker(s) in the cluster");
        return Task.CompletedTask;
    }

    private async Task ForwardAsync(Job job, string operation, string hiveId, string body, CancellationToken ct)
    {
        var port = await hives.RunAsync(hiveId, body, line => job.Narrate($"[{hiveId}] {line}"), job.Data, ct,
            hive => job.Narrate($"forwarded {operation} to hive {hiveId} ({hive.HiveUrl})")).ConfigureAwait(false);

        if (operation == JobOperations.WorkerSpawn && port is { } p)
        {
            // The view is a snapshot, not a stream of events to miss: waiting after the hive's job ended is safe.
            var w = await registry.WaitForAsync(snap => snap.FindWorker(hiveId, p) is { State: WorkerStates.Ready }, options.Value.ViewTimeout, ct).ConfigureAwait(false)
                ? registry.Current.FindWorker(hiveId, p) : null;
            if (w is null) throw new JobFailedException($"hive {hiveId} reports worker {p} ready, but it did not appear ready in the queen's view within {options.Value.ViewTimeout.TotalSeconds:0.#} s");
            var entry = registry.Current.Find(hiveId)!;
            job.Narrate($"worker {w.Group}/{w.Instance} is ready in the cluster view at {ClusterViews.WorkerUrl(entry, w)}");
            job.Data(ClusterViews.Worker(entry, w, load), RbeeJsonContext.Default.ProcessStats);
        }
        else if (operation == JobOperations.WorkerStop && port is { } sp)
        {
            if (!await registry.WaitForAsync(snap => snap.FindWorker(hiveId, sp) is null, options.Value.ViewTimeout, ct).ConfigureAwait(false))
                throw new JobFailedException($"hive {hiveId} stopped worker {sp}, but it is still in the queen's view after {options.Value.ViewTimeout.TotalSeconds:0.#} s");
            job.Narrate($"worker on port {sp} has left the cluster view");
        }
    }
}
