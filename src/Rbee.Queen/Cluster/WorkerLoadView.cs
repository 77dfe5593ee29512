namespace Rbee.Queen.Cluster;

/// <summary>
/// What the queen itself knows of a worker's load, beside what its hive reports: requests in flight, last use, ejection
/// and idle stop (DESIGN.md "Scheduling and routing"). The scheduler implements it (registered before the cluster view's
/// default, which knows nothing); <c>/v1/cluster</c>, <c>/v1/hives/{id}</c> and <c>worker_list</c> show it per worker.
/// </summary>
public interface IWorkerLoadView
{
    /// <summary>The load of the worker on <paramref name="port"/> of <paramref name="hiveId"/> with main pid
    /// <paramref name="pid"/> (a worker restarted on the same port is another worker), or null when nothing is known.</summary>
    WorkerLoad? Find(string hiveId, int port, int pid);
}

/// <summary>The queen's fields of one worker (see <see cref="Rbee.Contracts.Wire.ProcessStats"/>'s <c>in_flight</c>,
/// <c>last_used_at</c>, <c>ejected_until</c>, <c>idle_stop_at</c>).</summary>
public sealed record WorkerLoad(int InFlight, DateTimeOffset? LastUsedAt, DateTimeOffset? EjectedUntil, DateTimeOffset? IdleStopAt);

/// <summary>The view while no scheduler is registered: nothing is known of any worker.</summary>
public sealed class NoWorkerLoad : IWorkerLoadView
{
    public static NoWorkerLoad Instance { get; } = new();

    public WorkerLoad? Find(string hiveId, int port, int pid) => null;
}
