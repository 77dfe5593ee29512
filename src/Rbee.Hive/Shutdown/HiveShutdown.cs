using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Wire;

namespace Rbee.Hive.Shutdown;

/// <summary>
/// How the hive is stopping: whether its workers go with it (DESIGN.md "Workers under the hive": default yes,
/// <see cref="HiveOptions.StopWorkersOnExit"/>; <c>POST /v1/shutdown {"stop_workers":false}</c> keeps them for
/// re-adoption). The workers capability reads <see cref="StopWorkers"/> in its hosted service's StopAsync.
/// </summary>
public sealed partial class HiveShutdown(HiveOptions options, IHostApplicationLifetime lifetime, ILogger<HiveShutdown> logger)
{
    private volatile bool _stopWorkers = options.StopWorkersOnExit;

    public bool StopWorkers => _stopWorkers;

    /// <summary><c>POST /v1/shutdown</c> (protected): 202 first, then a graceful stop once the answer is sent.</summary>
    public IResult Handle(HttpContext context, ShutdownRequest? request)
    {
        _stopWorkers = request?.StopWorkers ?? true;
        Log.Requested(logger, context.Connection.RemoteIpAddress?.ToString() ?? "?", _stopWorkers);
        context.Response.OnCompleted(() =>
        {
            lifetime.StopApplication();
            return Task.CompletedTask;
        });
        return Results.Accepted(value: new ShutdownRequest(_stopWorkers));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = HiveEventIds.ShutdownRequested, Level = LogLevel.Information, Message = "Shutdown requested by {Remote} (stop workers: {StopWorkers})")]
        public static partial void Requested(ILogger logger, string remote, bool stopWorkers);
    }
}
