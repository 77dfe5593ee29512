using System.Collections.Immutable;
using Rbee.Contracts.Wire;

namespace Rbee.Queen.Cluster;

/// <summary>
/// One hive as the queen knows it. Immutable: the registry replaces it whole (STYLE.md §3).
/// </summary>
public sealed record HiveEntry
{
    public required string HiveId { get; init; }
    public required Uri HiveUrl { get; init; }
    public required string InstanceId { get; init; }
    public string? Version { get; init; }
    public int Protocol { get; init; }
    public required string State { get; init; }
    public string? Reason { get; init; }

    /// <summary>Accepted by ready and being subscribed, no frame yet. Counts as live for the hijack rule.</summary>
    public bool Connecting { get; init; }

    public Capabilities? Capabilities { get; init; }

    /// <summary>The hive's model catalog, fetched on subscribe and again when a frame's models_version differs.</summary>
    public ModelCatalog? Catalog { get; init; }

    /// <summary>The last frame applied; its workers are the hive's workers while it is not offline.</summary>
    public TelemetryFrame? LastFrame { get; init; }

    /// <summary>Highest <c>seq</c> applied for <see cref="InstanceId"/>; -1 before the first frame.</summary>
    public long LastSeq { get; init; } = -1;

    public DateTimeOffset? LastFrameAt { get; init; }

    /// <summary>Whether a ready from another URL for this hive_id would be a hijack (DESIGN.md "Discovery and telemetry" 4).</summary>
    public bool IsLive => Connecting || State is HiveStates.Online or HiveStates.Degraded;

    /// <summary>The workers that belong in the view: none while offline or incompatible.</summary>
    public IReadOnlyList<ProcessStats> Workers =>
        State is HiveStates.Online or HiveStates.Degraded && LastFrame is { } f ? f.Workers : [];
}

/// <summary>The queen's view of the cluster at one version. Readers take it without locks.</summary>
public sealed class ClusterSnapshot(long version, ImmutableSortedDictionary<string, HiveEntry> hives)
{
    public static ClusterSnapshot Empty { get; } = new(0, ImmutableSortedDictionary.Create<string, HiveEntry>(StringComparer.Ordinal));

    public long Version { get; } = version;
    public ImmutableSortedDictionary<string, HiveEntry> Hives { get; } = hives;

    public HiveEntry? Find(string hiveId) => Hives.GetValueOrDefault(hiveId);
}
