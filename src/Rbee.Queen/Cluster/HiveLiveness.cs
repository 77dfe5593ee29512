using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;

namespace Rbee.Queen.Cluster;

/// <summary>
/// Decides whether a hive is alive from the age of its last frame (DESIGN.md "Discovery and telemetry" 5):
/// <c>online</c> while fresh, <c>degraded</c> after 3 s without a frame, <c>offline</c> after 10 s. Kept apart from
/// the table it updates (STYLE.md §3); it never looks at the socket, so a blackholed link is caught too.
/// </summary>
public sealed class HiveLiveness(TimeSpan degradedAfter, TimeSpan offlineAfter)
{
    public HiveLiveness(ProtocolOptions protocol) : this(protocol.DegradedAfter, protocol.OfflineAfter) { }

    public TimeSpan DegradedAfter { get; } = degradedAfter;
    public TimeSpan OfflineAfter { get; } = offlineAfter;

    public string StateAt(DateTimeOffset lastFrameAt, DateTimeOffset now)
    {
        var age = now - lastFrameAt;
        if (age >= OfflineAfter) return HiveStates.Offline;
        if (age >= DegradedAfter) return HiveStates.Degraded;
        return HiveStates.Online;
    }
}
