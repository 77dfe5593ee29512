using Prometheus;
using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;
using Rbee.Queen.Scheduling;

namespace Rbee.Queen.Telemetry;

/// <summary>
/// The queen's Prometheus metrics (<c>GET /metrics</c>, issue 14): requests by endpoint and status, their duration and
/// time to first byte, in flight, waiting, retries, ejections, hives and workers by state, the age of each hive's last
/// telemetry frame, and managed-hive restarts. Its own registry (tests host several queens in one process). The cluster
/// figures are read from the registry's snapshot when scraped; a figure that is not known is absent, never 0.
/// </summary>
public sealed class QueenMetrics
{
    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();
    private readonly Counter _requests;
    private readonly Histogram _duration;
    private readonly Histogram _firstByte;
    private readonly Gauge _inFlight;
    private readonly Counter _retries;
    private readonly Counter _ejections;
    private readonly Counter _restarts;

    public QueenMetrics(ClusterRegistry registry, Func<int>? queued, WorkerLoads? loads, TimeProvider time)
    {
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        double[] seconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
        _requests = f.CreateCounter("rbee_queen_requests_total", "OpenAI requests (and infer jobs) that ended, by endpoint and HTTP status.", "endpoint", "status");
        _duration = f.CreateHistogram("rbee_queen_request_duration_seconds", "Time from a request's arrival to its end.",
            new HistogramConfiguration { Buckets = seconds });
        _firstByte = f.CreateHistogram("rbee_queen_time_to_first_byte_seconds", "Time from a request's arrival to the worker's first byte (queueing and cold starts included).",
            new HistogramConfiguration { Buckets = seconds });
        _inFlight = f.CreateGauge("rbee_queen_requests_in_flight", "Requests received and not yet ended.");
        _retries = f.CreateCounter("rbee_queen_retries_total", "Requests sent again to another worker after one failed before its first byte.");
        _ejections = f.CreateCounter("rbee_queen_worker_ejections_total", "Workers taken out of scheduling after failures.");
        _restarts = f.CreateCounter("rbee_queen_hive_restarts_total", "Managed hives the queen started again over SSH after a crash.", "hive");
        var waiting = f.CreateGauge("rbee_queen_requests_waiting", "Requests waiting in the scheduler's queues for a worker.");
        var hives = f.CreateGauge("rbee_queen_hives", "Hives in the queen's view, by state.", "state");
        var workers = f.CreateGauge("rbee_queen_workers", "Workers of online and degraded hives, by state.", "state");
        var frameAge = f.CreateGauge("rbee_queen_telemetry_frame_age_seconds", "Seconds since each hive's last telemetry frame.", "hive");
        if (loads is not null) loads.HealthChanged += c => { if (c.Ejected) _ejections.Inc(); };
        Registry.AddBeforeCollectCallback(() =>
        {
            if (queued is not null) waiting.Set(queued());
            var snapshot = registry.Current;
            var now = time.GetUtcNow();
            foreach (var state in Enum.GetValues<HiveState>())
                hives.WithLabels(state.ToWire()).Set(snapshot.Hives.Values.Count(h => h.State == state));
            foreach (var label in workers.GetAllLabelValues().ToList()) workers.WithLabels(label).Set(0);
            foreach (var group in snapshot.Hives.Values.SelectMany(h => h.Workers).GroupBy(w => w.State))
                workers.WithLabels(group.Key).Set(group.Count());
            foreach (var label in frameAge.GetAllLabelValues().ToList())
                if (!snapshot.Hives.ContainsKey(label[0])) frameAge.RemoveLabelled(label);
            foreach (var h in snapshot.Hives.Values)
                if (h.LastFrameAt is { } at) frameAge.WithLabels(h.HiveId).Set(Math.Max(0, (now - at).TotalSeconds));
        });
    }

    // The catch-all route takes any /v1/… path: a label per path would let a caller grow the registry without bound.
    private static readonly HashSet<string> KnownEndpoints = new(StringComparer.Ordinal)
    {
        "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses", Rbee.Contracts.Wire.JobOperations.Infer,
    };

    public void Received() => _inFlight.Inc();

    public void Retried() => _retries.Inc();

    public void FirstByte(TimeSpan elapsed) => _firstByte.Observe(elapsed.TotalSeconds);

    public void Ended(string endpoint, int status, TimeSpan elapsed)
    {
        _inFlight.Dec();
        _requests.WithLabels(KnownEndpoints.Contains(endpoint) ? endpoint : "other", status.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
        _duration.Observe(elapsed.TotalSeconds);
    }

    public void HiveRestarted(string hiveId) => _restarts.WithLabels(hiveId).Inc();
}
