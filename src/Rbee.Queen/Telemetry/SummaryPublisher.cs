using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Rbee.Contracts.Json;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;

namespace Rbee.Queen.Telemetry;

/// <summary>Publishes <c>event: summary</c> on the aggregate stream every 2.5 s (DESIGN.md "Discovery and telemetry" 7).</summary>
public sealed class SummaryPublisher(ClusterRegistry registry, ClusterEventHub hub, IOptions<ProtocolOptions> protocol,
    TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(protocol.Value.SummaryInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (!hub.HasSubscribers) continue;
                hub.Publish(StreamEvents.Summary, ClusterViews.Summary(registry.Current, time.GetUtcNow()), RbeeJsonContext.Default.ClusterSummary);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public static ClusterStreamEvent Build(ClusterSnapshot snapshot, DateTimeOffset now) =>
        new(StreamEvents.Summary, JsonSerializer.SerializeToUtf8Bytes(ClusterViews.Summary(snapshot, now), RbeeJsonContext.Default.ClusterSummary));
}
