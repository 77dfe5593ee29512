using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Rbee.Queen.Configuration;

namespace Rbee.Queen.Cluster;

/// <summary>Drives <see cref="ClusterRegistry.Tick"/> on the queen's <see cref="TimeProvider"/>, so a hive whose frames
/// stop is degraded and then offline even while its socket stays open; and forgets hives long offline
/// (<see cref="ClusterRegistry.ForgetLongOffline"/>).</summary>
public sealed class LivenessMonitor(ClusterRegistry registry, IOptions<QueenOptions> options, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.LivenessTick, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                registry.Tick();
                registry.ForgetLongOffline();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
