using Microsoft.Extensions.Hosting;
using Rbee.Queen.Cluster;

namespace Rbee.Queen.Scheduling;

/// <summary>
/// Wakes waiting requests when something outside a request changes what they wait for: a new snapshot of the cluster
/// view (a worker became ready, a hive came back or went, a cold start's worker appeared) or the end of an ejection or a
/// worker's "busy" mark. Awaits the view's own change signal; no polling. Also forgets the queen's records of workers
/// that left the view.
/// </summary>
public sealed class SchedulerPump(ClusterRegistry registry, Scheduler scheduler, WorkerLoads loads, TimeProvider time) : BackgroundService
{
    /// <summary>Longest sleep when nothing expires: only a bound, every change of the view wakes the pump at once.</summary>
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var seen = registry.Current;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var wait = loads.NextExpiry() is { } at ? at - time.GetUtcNow() : Idle;
                if (wait < TimeSpan.Zero) wait = TimeSpan.Zero;
                var last = seen;
                await registry.WaitForAsync(s => !ReferenceEquals(s, last), wait, stoppingToken).ConfigureAwait(false);
                var now = registry.Current;
                if (!ReferenceEquals(now, seen) && WorkersChanged(seen, now))
                {
                    var index = scheduler.Index.Current;
                    loads.Retain(key => index.Snapshot.Find(key.HiveId) is { } hive && hive.Workers.Any(w => w.Port == key.Port && w.Pid == key.Pid));
                }
                seen = now;
                scheduler.PumpAll();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static bool WorkersChanged(ClusterSnapshot before, ClusterSnapshot after)
    {
        if (before.Hives.Count != after.Hives.Count) return true;
        foreach (var (id, hive) in after.Hives)
            if (!before.Hives.TryGetValue(id, out var old) || old.State != hive.State || old.Workers.Count != hive.Workers.Count) return true;
        return false;
    }
}
