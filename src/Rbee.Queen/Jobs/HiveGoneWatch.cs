using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;

namespace Rbee.Queen.Jobs;

/// <summary>
/// Cancels <c>target</c> when the hive instance a job was posted to can no longer finish it: it went offline or
/// incompatible, restarted (another instance) or left the view. Liveness says so from the age of its frames, even when a
/// dead link keeps the job stream open (DESIGN.md "Discovery and telemetry": never judged from the socket). Awaited on the
/// view's snapshots, never polled.
/// </summary>
public sealed class HiveGoneWatch : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task<bool> _gone;

    public HiveGoneWatch(ClusterRegistry registry, HiveEntry hive, CancellationTokenSource target)
    {
        _gone = registry.WaitForAsync(s => IsGone(s, hive), Timeout.InfiniteTimeSpan, _stop.Token);
        _ = _gone.ContinueWith(static (t, state) =>
            {
                if (!t.IsCompletedSuccessfully || !t.Result) return;
                try { ((CancellationTokenSource)state!).Cancel(); }
                catch (ObjectDisposedException) { } // the job had already ended
            },
            target, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>The hive went away (and the target was cancelled for it).</summary>
    public bool Fired => _gone is { IsCompletedSuccessfully: true, Result: true };

    public static bool IsGone(ClusterSnapshot snapshot, HiveEntry hive) =>
        snapshot.Find(hive.HiveId) is not { } h || h.InstanceId != hive.InstanceId || h.State is HiveState.Offline or HiveState.Incompatible;

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }
}
