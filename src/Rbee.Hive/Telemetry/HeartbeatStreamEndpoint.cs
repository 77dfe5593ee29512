using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Sse;

namespace Rbee.Hive.Telemetry;

/// <summary>
/// <c>GET /v1/heartbeats/stream</c> (protected): the hive's telemetry as SSE <c>event: telemetry</c>, first frame at
/// once. The stream ends when the client leaves or the hive stops, so a queen sees a graceful stop at once.
/// </summary>
public static partial class HeartbeatStreamEndpoint
{
    public static async Task HandleAsync(HttpContext context, TelemetryHub hub, StreamSubscriptions subscriptions,
        IHostApplicationLifetime lifetime, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger(typeof(HeartbeatStreamEndpoint));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        var ct = stop.Token;
        var remote = context.Connection.RemoteIpAddress?.ToString() ?? "?";
        var frames = hub.Subscribe();
        subscriptions.Opened();
        Log.Opened(logger, remote);
        try
        {
            var sse = await SseResponse.StartAsync(context.Response, ct);
            while (await frames.WaitToReadAsync(ct))
                while (frames.TryRead(out var frame))
                    await sse.WriteEventAsync(StreamEvents.Telemetry, frame, ct);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The subscriber left or the hive is stopping: the normal ends of a stream.
        }
        finally
        {
            hub.Unsubscribe(frames);
            subscriptions.Closed();
            Log.Closed(logger, remote);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = HiveEventIds.TelemetrySubscriptionOpened, Level = LogLevel.Information, Message = "Telemetry subscription opened by {Remote}")]
        public static partial void Opened(ILogger logger, string remote);

        [LoggerMessage(EventId = HiveEventIds.TelemetrySubscriptionClosed, Level = LogLevel.Information, Message = "Telemetry subscription from {Remote} closed")]
        public static partial void Closed(ILogger logger, string remote);
    }
}
