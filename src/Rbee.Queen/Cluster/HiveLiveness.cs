using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;

namespace Rbee.Queen.Cluster;

/// <summary>
/// The one place that decides whether a hive is alive (DESIGN.md "Discovery and telemetry" 5), from time alone:
/// <c>online</c> while its last frame is fresh, <c>degraded</c> after 3 s without one, <c>offline</c> after 10 s; a
/// <c>connecting</c> hive (ready accepted or stream reopened, no frame yet) is <c>offline</c> 10 s after that without a
/// first frame. Kept apart from the table it updates (STYLE.md §3, Orleans' failure detector); it never looks at the
/// socket, so a blackholed link, or a stream that opens and never delivers, is caught too. The registry applies its
/// verdicts on <see cref="LivenessMonitor"/>'s tick; a stream that closes is offline at once without it.
/// </summary>
public sealed class HiveLiveness(TimeSpan degradedAfter, TimeSpan offlineAfter)
{
    public HiveLiveness(ProtocolOptions protocol) : this(protocol.DegradedAfter, protocol.OfflineAfter) { }

    public TimeSpan DegradedAfter { get; } = degradedAfter;
    public TimeSpan OfflineAfter { get; } = offlineAfter;

    /// <summary>The state of a hive whose last frame arrived at <paramref name="lastFrameAt"/>.</summary>
    public HiveState StateAt(DateTimeOffset lastFrameAt, DateTimeOffset now)
    {
        var age = now - lastFrameAt;
        if (age >= OfflineAfter) return HiveState.Offline;
        if (age >= DegradedAfter) return HiveState.Degraded;
        return HiveState.Online;
    }

    /// <summary>The state <paramref name="hive"/> should be in at <paramref name="now"/>, with the reason when it differs
    /// from the one it is in. Offline and incompatible hives stay as they are: only a frame or a ready changes them.</summary>
    public (HiveState State, string? Reason) Judge(HiveEntry hive, DateTimeOffset now)
    {
        switch (hive.State)
        {
            case HiveState.Online or HiveState.Degraded when hive.LastFrameAt is { } at:
                var state = StateAt(at, now);
                return (state, state == hive.State ? null : $"no frame for {Ms(now - at)} ms");
            case HiveState.Connecting:
                var since = hive.StreamOpenedAt ?? hive.AcceptedAt;
                return now - since >= OfflineAfter
                    ? (HiveState.Offline, $"no first frame {Ms(now - since)} ms after {(hive.StreamOpenedAt is null ? "the ready" : "the stream opened")}")
                    : (HiveState.Connecting, null);
            default:
                return (hive.State, null);
        }
    }

    private static long Ms(TimeSpan t) => (long)t.TotalMilliseconds;
}
