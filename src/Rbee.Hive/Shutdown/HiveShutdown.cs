using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using System.Runtime.InteropServices;
using Rbee.Contracts.Wire;

namespace Rbee.Hive.Shutdown;

/// <summary>
/// How the hive is stopping: whether its workers go with it (DESIGN.md "Workers under the hive": default yes,
/// <see cref="HiveOptions.StopWorkersOnExit"/>; <c>POST /v1/shutdown {"stop_workers":false}</c> keeps them for
/// re-adoption). The workers capability reads <see cref="StopWorkers"/> in its hosted service's StopAsync.
/// SIGUSR1 is the same restart-mode stop from the hive's own machine, where the upgrade of a remote hive runs
/// (<c>rbee hive install --host</c> while one runs: stop keeping the workers, replace, start, re-adopt) without needing
/// an HTTP client or the token there.
/// </summary>
public sealed partial class HiveShutdown(HiveOptions options, IHostApplicationLifetime lifetime, ILogger<HiveShutdown> logger) : IHostedService, IDisposable
{
    /// <summary>SIGUSR1 on Linux (10): .NET takes raw signal numbers cast to <see cref="PosixSignal"/>.</summary>
    public const PosixSignal RestartSignal = (PosixSignal)10;

    private volatile bool _stopWorkers = options.StopWorkersOnExit;
    private PosixSignalRegistration? _restartSignal;

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

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (OperatingSystem.IsLinux())
            _restartSignal = PosixSignalRegistration.Create(RestartSignal, context =>
            {
                context.Cancel = true;
                _stopWorkers = false;
                Log.RestartSignal(logger);
                lifetime.StopApplication();
            });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _restartSignal?.Dispose();

    private static partial class Log
    {
        [LoggerMessage(EventId = HiveEventIds.RestartSignal, Level = LogLevel.Information, Message = "SIGUSR1: stopping in restart mode (workers keep running for the next hive to re-adopt)")]
        public static partial void RestartSignal(ILogger logger);

        [LoggerMessage(EventId = HiveEventIds.ShutdownRequested, Level = LogLevel.Information, Message = "Shutdown requested by {Remote} (stop workers: {StopWorkers})")]
        public static partial void Requested(ILogger logger, string remote, bool stopWorkers);
    }
}
