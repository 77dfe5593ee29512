using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Rbee.Hive.Workers;

/// <summary>
/// Starts worker monitoring with the hive (re-adopting what runs in its tree) and, when the hive stops, stops every
/// worker within a bound and verifies none is left, unless this stop is in restart mode, which leaves them for the next
/// hive to re-adopt (DESIGN.md "Workers under the hive", Stop). One switch decides: <see cref="Shutdown.HiveShutdown.StopWorkers"/>,
/// which is <c>--stop-workers-on-exit</c> (<c>Hive:StopWorkersOnExit</c>) unless <c>POST /v1/shutdown</c> said otherwise.
/// </summary>
public sealed partial class WorkersLifetime(
    Monitoring.WorkerMonitor monitor,
    WorkerSupervisor supervisor,
    IOptions<WorkerOptions> options,
    ILogger<WorkersLifetime> logger,
    TimeProvider time,
    Shutdown.HiveShutdown? shutdown = null) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => monitor.StartAsync(cancellationToken);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (shutdown is { StopWorkers: false })
        {
            Log.KeepingWorkers(logger, monitor.Snapshot.Workers.Length);
        }
        else
        {
            try
            {
                await supervisor.StopAllAsync(CancellationToken.None).WaitAsync(StopBound(options.Value), time, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WorkerOperationException or TimeoutException)
            {
                Log.StopAllFailed(logger, e.Message);
            }
        }
        await monitor.StopAsync().ConfigureAwait(false);
        monitor.Dispose();
    }

    /// <summary>How long stopping every worker may take: the grace, the kill bound, and a little for the scan.</summary>
    public static TimeSpan StopBound(WorkerOptions o) => o.StopGrace + o.KillBound + TimeSpan.FromSeconds(2);

    private static partial class Log
    {
        [LoggerMessage(EventId = WorkerEventIds.KeepingWorkers, Level = LogLevel.Information, Message = "Restart mode: leaving {Count} workers running for re-adoption")]
        public static partial void KeepingWorkers(ILogger logger, int count);

        [LoggerMessage(EventId = WorkerEventIds.StopAllFailed, Level = LogLevel.Error, Message = "Stopping the workers at shutdown failed: {Reason}")]
        public static partial void StopAllFailed(ILogger logger, string reason);
    }
}
