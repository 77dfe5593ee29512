using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Queen.Routing;
using Rbee.Queen.Telemetry;

namespace Rbee.Queen.Scheduling;

/// <summary>
/// The active half of passive health: while a worker is ejected (<see cref="WorkerLoads"/>), its <c>/health</c> is probed
/// every <see cref="SchedulingOptions.EjectionProbeInterval"/>, and a success puts it back at once. Ejections and
/// restorations are logged and published on the queen's stream (<c>event: worker_health</c>).
/// </summary>
public sealed partial class WorkerHealthProber : BackgroundService
{
    private readonly WorkerLoads _loads;
    private readonly WorkerForwarder _forwarder;
    private readonly SchedulingOptions _options;
    private readonly TimeProvider _time;
    private readonly ClusterEventHub _events;
    private readonly ILogger<WorkerHealthProber> _logger;

    public WorkerHealthProber(WorkerLoads loads, WorkerForwarder forwarder, SchedulingOptions options, TimeProvider time,
        ClusterEventHub events, ILogger<WorkerHealthProber> logger)
    {
        _loads = loads;
        _forwarder = forwarder;
        _options = options;
        _time = time;
        _events = events;
        _logger = logger;
        _loads.HealthChanged += OnHealthChanged;
    }

    private void OnHealthChanged(WorkerHealthChange change)
    {
        if (change.Ejected) Log.Ejected(_logger, change.Key.ToString(), change.EjectedUntil!.Value, change.Reason);
        else Log.Restored(_logger, change.Key.ToString(), change.Reason);
        if (!_events.HasSubscribers) return;
        var e = new WorkerHealthChanged(change.Key.HiveId, change.Key.Port, change.Url, change.Ejected, change.EjectedUntil,
            change.ConsecutiveFailures, change.Reason, _time.GetUtcNow());
        _events.Publish(StreamEvents.WorkerHealth, e, RbeeJsonContext.Default.WorkerHealthChanged);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.EjectionProbeInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var ejected = _loads.Ejected();
                if (ejected.Count == 0) continue;
                await Task.WhenAll(ejected.Select(async w =>
                {
                    if (await _forwarder.ProbeHealthAsync(w.Url, _options.EjectionProbeInterval, stoppingToken).ConfigureAwait(false))
                        _loads.ProbeSucceeded(w.Key);
                })).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override void Dispose()
    {
        _loads.HealthChanged -= OnHealthChanged;
        base.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = QueenEventIds.WorkerEjected, Level = LogLevel.Warning, Message = "Worker {Worker} ejected from scheduling until {Until:o}: {Reason}")]
        public static partial void Ejected(ILogger logger, string worker, DateTimeOffset until, string reason);

        [LoggerMessage(EventId = QueenEventIds.WorkerRestored, Level = LogLevel.Information, Message = "Worker {Worker} is back in scheduling: {Reason}")]
        public static partial void Restored(ILogger logger, string worker, string reason);
    }
}
