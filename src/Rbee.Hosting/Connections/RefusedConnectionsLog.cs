using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Rbee.Hosting.Connections;

/// <summary>The connection limit in force (<see cref="Rbee.Platform.Configuration.ConnectionLimits"/> resolved against the
/// descriptor limit at start).</summary>
public sealed record ConnectionLimitInForce(long MaxConnections, long? DescriptorLimit);

/// <summary>
/// Connections refused at <c>Limits:MaxConnections</c>, logged as one line per <see cref="Interval"/> with their count.
/// Kestrel's own line per refused connection is held back (<see cref="Logging.RbeeLogging"/>): under a flood it would
/// write thousands of lines a second, a second flood of the disk. The count comes from Kestrel's
/// <c>kestrel.rejected_connections</c> counter.
/// </summary>
public sealed partial class RefusedConnectionsLog(ConnectionLimitInForce limit, TimeProvider time, ILogger<RefusedConnectionsLog> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    private const string KestrelMeter = "Microsoft.AspNetCore.Server.Kestrel";
    private const string RejectedConnections = "kestrel.rejected_connections";

    private long _refused;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == KestrelMeter && instrument.Name == RejectedConnections) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _refused, value));
        listener.Start();
        using var timer = new PeriodicTimer(Interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
                if (Interlocked.Exchange(ref _refused, 0) is > 0 and var n) Log.Refused(logger, n, Interval.TotalSeconds, limit.MaxConnections);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = HostingEventIds.ConnectionsRefused, Level = LogLevel.Warning,
            Message = "{Count} connections refused in the last {Seconds} s: {MaxConnections} open already (Limits:MaxConnections)")]
        public static partial void Refused(ILogger logger, long count, double seconds, long maxConnections);
    }
}
