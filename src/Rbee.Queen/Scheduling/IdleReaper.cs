using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Queen.Audit;
using Rbee.Queen.Cluster;
using Rbee.Queen.Jobs;

namespace Rbee.Queen.Scheduling;

/// <summary>
/// Ollama's keep-alive habit (<see cref="SchedulingOptions.IdleTimeout"/>, off by default): a worker the scheduler
/// started on demand (<c>started_by: queen</c>) that has had no request for that long is stopped through its hive's
/// <c>worker_stop</c> job, freeing its memory. A worker a person started is never stopped here. A worker is first marked
/// retiring, so no request is sent to it while it stops. Each stop is a line of the audit log, with the queen as actor.
/// </summary>
public sealed partial class IdleReaper(
    ClusterRegistry registry,
    WorkerLoads loads,
    HiveJobClient jobs,
    SchedulingOptions options,
    TimeProvider time,
    AuditLog audit,
    ILogger<IdleReaper> logger) : BackgroundService
{
    /// <summary>When the idle timeout will stop this worker, or null when it never will (for <c>/v1/cluster</c>).</summary>
    public static DateTimeOffset? StopAt(ProcessStats worker, WorkerLoads.Record? record, SchedulingOptions options) =>
        options.IdleTimeout is { } idle && worker.StartedBy == WorkerOrigins.Queen && worker.State == WorkerStates.Ready && record is not null
            ? (record.LastUsedAt ?? record.FirstSeen) + idle
            : null;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.IdleTimeout is not { } idle) return;
        // A quarter of the timeout (at least a second) keeps a stop within 25 % of the promised time.
        var tick = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerSecond, idle.Ticks / 4));
        using var timer = new PeriodicTimer(tick, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
                await ReapAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Stops every idle on-demand worker now; public for tests.</summary>
    public async Task ReapAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var stops = new List<Task>();
        foreach (var hive in registry.Current.Hives.Values)
        {
            if (!ClusterModels.IsRoutable(hive)) continue;
            foreach (var w in hive.Workers)
            {
                if (w.StartedBy != WorkerOrigins.Queen || w.State != WorkerStates.Ready) continue;
                var key = new WorkerKey(hive.HiveId, w.Port, w.Pid);
                var record = loads.Get(key, ClusterViews.WorkerUrl(hive, w));
                if (StopAt(w, record, options) is not { } at || at > now || !loads.TryRetire(key)) continue;
                stops.Add(StopAsync(hive, w, key, now - (record.LastUsedAt ?? record.FirstSeen), ct));
            }
        }
        await Task.WhenAll(stops).ConfigureAwait(false);
    }

    private async Task StopAsync(HiveEntry hive, ProcessStats worker, WorkerKey key, TimeSpan idleFor, CancellationToken ct)
    {
        var target = $"{hive.HiveId} {ClusterModels.ModelIdOf(worker) ?? "?"} port {worker.Port}";
        var why = $"idle for {idleFor.TotalSeconds:0} s (Scheduling:IdleTimeout)";
        try
        {
            audit.Write(Actor.Queen, JobOperations.WorkerStop, target, why);
            var body = JsonSerializer.Serialize(new WorkerStopRequest(JobOperations.WorkerStop, worker.Port, null), RbeeJsonContext.Default.WorkerStopRequest);
            var sse = await jobs.PostAsync(hive, body, options.SpawnPostTimeout, ct).ConfigureAwait(false);
            await jobs.RelayAsync(hive.HiveId, sse, static _ => { }, static _ => { }, ct).ConfigureAwait(false);
            Log.Stopped(logger, key.ToString(), ClusterModels.ModelIdOf(worker) ?? "?", idleFor);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // One failed stop must not end the reaper (a background service's exception stops the host).
            loads.Unretire(key);
            audit.Write(Actor.Queen, JobOperations.WorkerStop + " failed", target, e.Message);
            Log.StopFailed(logger, key.ToString(), e.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = QueenEventIds.IdleWorkerStopped, Level = LogLevel.Information, Message = "Stopped worker {Worker} of model {Model}: idle for {IdleFor} (Scheduling:IdleTimeout)")]
        public static partial void Stopped(ILogger logger, string worker, string model, TimeSpan idleFor);

        [LoggerMessage(EventId = QueenEventIds.IdleStopFailed, Level = LogLevel.Warning, Message = "Could not stop idle worker {Worker}: {Reason}")]
        public static partial void StopFailed(ILogger logger, string worker, string reason);
    }
}
