using Microsoft.Extensions.Hosting;
using Rbee.Hive.Telemetry;

namespace Rbee.Hive.Discovery;

/// <summary>
/// Starts the ready sequence when the hive has started listening, and again whenever the last telemetry
/// subscription closes (DESIGN.md "Discovery and telemetry" 5: the hive runs its ready sequence again when its
/// queen stream closes) unless the hive itself is stopping.
/// </summary>
public sealed class DiscoveryService(ReadySequence sequence, StreamSubscriptions subscriptions, IHostApplicationLifetime lifetime) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        subscriptions.LastClosed += OnLastClosed;
        // After Kestrel listens: the queen calls back at once, so the hive must already answer.
        lifetime.ApplicationStarted.Register(() => sequence.Trigger(null, "hive started"));
        return Task.CompletedTask;
    }

    private void OnLastClosed()
    {
        if (!lifetime.ApplicationStopping.IsCancellationRequested) sequence.Trigger(null, "telemetry stream closed");
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        subscriptions.LastClosed -= OnLastClosed;
        sequence.Dispose();
        return Task.CompletedTask;
    }
}
