using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;
using Rbee.Queen.Scheduling;

namespace Rbee.Queen.Routing;

/// <summary>Whether a worker answers on its own (its <c>/health</c>), whatever its hive's state.</summary>
public interface IWorkerProbe
{
    /// <summary>True when <paramref name="workerUrl"/>'s <c>/health</c> answers 2xx within <paramref name="timeout"/>.</summary>
    Task<bool> ProbeHealthAsync(string workerUrl, TimeSpan timeout, CancellationToken ct);
}

/// <summary>
/// Ends the requests in flight to a worker that can no longer be reached, once its hive went offline (docs/routing.md
/// "In-flight requests when a hive goes offline"). A link cut is a blackhole: the queen's connection to the worker just
/// stalls, and without this the request would wait out <see cref="SchedulingOptions.WorkerIdleTimeout"/> (minutes).
/// But a hive offline is not a worker dead: workers outlive a crashed hive in their cgroups and keep serving. So the
/// verdict is the worker's own: its <c>/health</c> is probed (<see cref="SchedulingOptions.UnreachableProbeTimeout"/>),
/// and only the attempts on a worker that does not answer are ended; one that answers keeps its requests, and is probed
/// again every <see cref="SchedulingOptions.EjectionProbeInterval"/> while its hive stays offline and it has requests.
/// An ended attempt fails over to another worker when nothing reached its client yet, else ends with an error.
/// </summary>
public sealed partial class UnreachableWorkerSweep : BackgroundService
{
    private readonly ClusterRegistry _registry;
    private readonly InFlightRequests _inFlight;
    private readonly IWorkerProbe _probe;
    private readonly SchedulingOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<UnreachableWorkerSweep> _logger;
    private readonly Lock _lock = new();
    private readonly HashSet<string> _sweeping = new(StringComparer.Ordinal);

    public UnreachableWorkerSweep(ClusterRegistry registry, InFlightRequests inFlight, IWorkerProbe probe, SchedulingOptions options,
        TimeProvider time, ILogger<UnreachableWorkerSweep> logger)
    {
        _registry = registry;
        _inFlight = inFlight;
        _probe = probe;
        _options = options;
        _time = time;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var changes = _registry.Subscribe();
        var sweeps = new List<Task>();
        long dropped = 0;
        void Start(string hiveId, string reason)
        {
            if (_inFlight.CountOn(hiveId) == 0) return;
            lock (_lock)
            {
                if (!_sweeping.Add(hiveId)) return; // one sweep per hive at a time
            }
            sweeps.RemoveAll(t => t.IsCompleted);
            sweeps.Add(SweepWhileOfflineAsync(hiveId, reason, stoppingToken));
        }
        try
        {
            await foreach (var change in changes.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                if (change is HiveStateChange { NewState: HiveState.Offline } offline) Start(offline.HiveId, offline.Reason ?? "offline");
                // A full queue dropped changes, perhaps an offline one: every hive offline now is looked at instead.
                if (changes.Dropped == dropped) continue;
                dropped = changes.Dropped;
                foreach (var (hiveId, entry) in _registry.Current.Hives)
                    if (entry.State == HiveState.Offline) Start(hiveId, "offline");
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        await Task.WhenAll(sweeps).ConfigureAwait(false);
    }

    private async Task SweepWhileOfflineAsync(string hiveId, string hiveReason, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await SweepOnceAsync(hiveId, hiveReason, ct).ConfigureAwait(false);
                // Back (its stream carries frames again) or nothing left to watch: done.
                if (_registry.Current.Find(hiveId) is { IsLive: true } || _inFlight.CountOn(hiveId) == 0) return;
                await Task.Delay(_options.EjectionProbeInterval, _time, ct).ConfigureAwait(false);
                if (_registry.Current.Find(hiveId) is { IsLive: true }) return;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            lock (_lock) _sweeping.Remove(hiveId);
        }
    }

    /// <summary>Probes each worker of <paramref name="hiveId"/> that has requests in flight, and ends the requests of those
    /// that do not answer; returns how many requests were ended.</summary>
    public async Task<int> SweepOnceAsync(string hiveId, string hiveReason, CancellationToken ct)
    {
        var workers = _inFlight.WorkersOf(hiveId);
        var ended = await Task.WhenAll(workers.Select(async w =>
        {
            if (await _probe.ProbeHealthAsync(w.Url, _options.UnreachableProbeTimeout, ct).ConfigureAwait(false))
            {
                Log.WorkerStillAnswers(_logger, w.Key.ToString(), hiveId, _inFlight.CountOn(hiveId));
                return 0;
            }
            var why = $"the worker {w.Url} is unreachable: its hive {hiveId} went offline ({hiveReason}) and the worker's /health " +
                $"did not answer within {_options.UnreachableProbeTimeout.TotalSeconds:0.#} s";
            var n = _inFlight.Abandon(w.Key, why);
            if (n > 0) Log.RequestsEnded(_logger, n, w.Key.ToString(), why);
            return n;
        })).ConfigureAwait(false);
        return ended.Sum();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = QueenEventIds.UnreachableWorkerRequestsEnded, Level = LogLevel.Warning, Message = "Ended {Count} request(s) in flight to worker {Worker}: {Reason}")]
        public static partial void RequestsEnded(ILogger logger, int count, string worker, string reason);

        [LoggerMessage(EventId = QueenEventIds.OfflineHiveWorkerAnswers, Level = LogLevel.Information, Message = "Worker {Worker} still answers although its hive {HiveId} is offline; its requests go on ({InFlight} in flight on that hive)")]
        public static partial void WorkerStillAnswers(ILogger logger, string worker, string hiveId, int inFlight);
    }
}
