using Prometheus;
using Rbee.Hive.Monitoring;

namespace Rbee.Hive.Workers;

/// <summary>
/// The hive's Prometheus metrics (<c>GET /metrics</c>, issue 14): spawns by worker type and outcome and how long they
/// took to be ready, worker exits and on_failure restarts, workers by state (read from the monitor's snapshot when scraped). Its own registry
/// (tests host several hives in one process).
/// </summary>
public sealed class HiveMetrics
{
    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();
    private readonly Counter _spawns;
    private readonly Histogram _spawnSeconds;
    private readonly Counter _exits;

    public HiveMetrics(WorkerMonitor monitor)
    {
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        _spawns = f.CreateCounter("rbee_hive_spawns_total", "Worker spawns that ended, by worker type and outcome (ready, failed, cancelled).", "type", "outcome");
        _spawnSeconds = f.CreateHistogram("rbee_hive_spawn_seconds", "Time from a spawn's start to its worker being ready.",
            new HistogramConfiguration { LabelNames = ["type"], Buckets = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300] });
        _exits = f.CreateCounter("rbee_hive_worker_exits_total", "Workers that left the hive, by type and whether a stop asked for it.", "type", "requested");
        var workers = f.CreateGauge("rbee_hive_workers", "Workers of this hive, by state.", "state");
        monitor.WorkerExited += (record, exit) => _exits.WithLabels(record.Name.WorkerType, exit.Requested ? "true" : "false").Inc();
        var restarts = f.CreateCounter("rbee_hive_worker_restarts_total", "Failed workers brought back by their on_failure policy, by worker type.", "type");
        monitor.WorkerRestarting += (record, _) => restarts.WithLabels(record.Name.WorkerType).Inc();
        Registry.AddBeforeCollectCallback(() =>
        {
            foreach (var label in workers.GetAllLabelValues().ToList()) workers.WithLabels(label).Set(0);
            foreach (var group in monitor.Snapshot.Workers.GroupBy(w => w.State)) workers.WithLabels(group.Key).Set(group.Count());
        });
    }

    public void SpawnEnded(string type, string outcome, TimeSpan elapsed)
    {
        _spawns.WithLabels(type, outcome).Inc();
        if (outcome == "ready") _spawnSeconds.WithLabels(type).Observe(elapsed.TotalSeconds);
    }
}
