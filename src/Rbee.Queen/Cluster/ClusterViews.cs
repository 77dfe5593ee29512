using Rbee.Contracts.Wire;

namespace Rbee.Queen.Cluster;

/// <summary>Turns a snapshot into the wire shapes of <c>GET /v1/cluster</c> and <c>event: summary</c>.</summary>
public static class ClusterViews
{
    public static ClusterView View(ClusterSnapshot snapshot, DateTimeOffset now) =>
        new(snapshot.Version, snapshot.Hives.Values.Select(e => Hive(e, now)).ToList());

    public static HiveView Hive(HiveEntry e, DateTimeOffset now)
    {
        var workers = e.Workers.Select(w => w with { Url = WorkerUrl(e, w) }).ToList();
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
            e.State is HiveStates.Online or HiveStates.Degraded ? e.LastFrame?.Node : null,
            workers);
    }

    public static ClusterSummary Summary(ClusterSnapshot snapshot, DateTimeOffset now)
    {
        int online = 0, degraded = 0, offline = 0, incompatible = 0, workers = 0, ready = 0;
        foreach (var e in snapshot.Hives.Values)
        {
            switch (e.State)
            {
                case HiveStates.Online: online++; break;
                case HiveStates.Degraded: degraded++; break;
                case HiveStates.Incompatible: incompatible++; break;
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
