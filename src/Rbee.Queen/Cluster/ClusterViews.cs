using Rbee.Contracts.Wire;

namespace Rbee.Queen.Cluster;

/// <summary>Turns a snapshot into the wire shapes of <c>GET /v1/cluster</c>, <c>GET /v1/hives/{id}</c> and <c>event: summary</c>.</summary>
public static class ClusterViews
{
    public static ClusterView View(ClusterSnapshot snapshot, DateTimeOffset now, IWorkerLoadView? load = null) =>
        new(snapshot.Version, snapshot.Hives.Values.Select(e => Hive(e, now, load)).ToList());

    public static HiveView Hive(HiveEntry e, DateTimeOffset now, IWorkerLoadView? load = null)
    {
        load ??= NoWorkerLoad.Instance;
        var workers = e.Workers.Select(w => Worker(e, w, load)).ToList();
        return new HiveView(
            e.HiveId,
            e.HiveUrl.ToString().TrimEnd('/'),
            e.InstanceId,
            e.State,
            e.Reason,
            e.LastFrameAt is { } at ? (long)Math.Max(0, (now - at).TotalMilliseconds) : null,
            e.Version,
            e.Protocol,
            e.Capabilities?.Devices ?? [],
            e.State is HiveState.Online or HiveState.Degraded ? e.LastFrame?.Node : null,
            workers)
        {
            WorkerTypes = e.Capabilities?.WorkerTypes ?? [],
        };
    }

    /// <summary>A worker as clients see it: the hive's figures plus the queen's (<c>url</c>, and the load fields from
    /// <paramref name="load"/>, null where it knows nothing).</summary>
    public static ProcessStats Worker(HiveEntry hive, ProcessStats worker, IWorkerLoadView? load = null)
    {
        var l = (load ?? NoWorkerLoad.Instance).Find(hive.HiveId, worker.Port, worker.Pid);
        return worker with
        {
            Url = WorkerUrl(hive, worker),
            InFlight = l?.InFlight,
            LastUsedAt = l?.LastUsedAt,
            EjectedUntil = l?.EjectedUntil,
            IdleStopAt = l?.IdleStopAt,
        };
    }

    public static ClusterSummary Summary(ClusterSnapshot snapshot, DateTimeOffset now)
    {
        int online = 0, degraded = 0, offline = 0, incompatible = 0, workers = 0, ready = 0;
        foreach (var e in snapshot.Hives.Values)
        {
            switch (e.State)
            {
                case HiveState.Online: online++; break;
                case HiveState.Degraded: degraded++; break;
                case HiveState.Incompatible: incompatible++; break;
                // The summary has no field for connecting hives: like offline ones, they are not routed to yet.
                default: offline++; break;
            }
            foreach (var w in e.Workers)
            {
                workers++;
                if (w.State == WorkerStates.Ready) ready++;
            }
        }
        return new ClusterSummary(snapshot.Version, now, online, degraded, offline, incompatible, workers, ready);
    }

    /// <summary>
    /// Where the router and clients reach a worker: workers listen on the hive's own bind address (DESIGN.md "Workers
    /// under the hive"), so it is the host of the hive's <c>hive_url</c> with the worker's port.
    /// </summary>
    public static string WorkerUrl(HiveEntry hive, ProcessStats worker) =>
        $"{hive.HiveUrl.Scheme}://{HostForUrl(hive.HiveUrl.Host)}:{worker.Port}";

    private static string HostForUrl(string host) => host.Contains(':') && !host.StartsWith('[') ? $"[{host}]" : host;
}
