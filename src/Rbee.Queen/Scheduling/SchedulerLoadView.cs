using Rbee.Queen.Cluster;

namespace Rbee.Queen.Scheduling;

/// <summary>
/// The scheduler's per-worker figures for <c>/v1/cluster</c>, <c>worker_list</c> and <c>rbee ps</c>: requests in flight
/// (the queen's own count: zero is a count, not a guess), when the worker was last used, until when it is ejected, and
/// when the idle timeout will stop it.
/// </summary>
public sealed class SchedulerLoadView(WorkerLoads loads, ClusterRegistry registry, SchedulingOptions options, TimeProvider time) : IWorkerLoadView
{
    public WorkerLoad? Find(string hiveId, int port, int pid)
    {
        var record = loads.Find(new WorkerKey(hiveId, port, pid));
        var worker = registry.Current.FindWorker(hiveId, port);
        var idleStop = worker is not null && worker.Pid == pid ? IdleReaper.StopAt(worker, record, options) : null;
        if (record is null) return new WorkerLoad(0, null, null, idleStop);
        var ejected = record.EjectedUntil is { } until && until > time.GetUtcNow() ? until : (DateTimeOffset?)null;
        return new WorkerLoad(record.InFlight, record.LastUsedAt, ejected, idleStop);
    }
}
