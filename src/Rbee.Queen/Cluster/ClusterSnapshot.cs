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

    /// <summary><see cref="HiveState.Connecting"/> from an accepted ready (or a reopened stream) to the first frame;
    /// then online, degraded or offline by <see cref="HiveLiveness"/>; incompatible for a protocol the queen does not speak.</summary>
    public required HiveState State { get; init; }

    /// <summary>Why the hive is offline or incompatible (or degraded); null while connecting or online.</summary>
    public string? Reason { get; init; }

    /// <summary>When the queen accepted this instance's ready.</summary>
    public DateTimeOffset AcceptedAt { get; init; }

    /// <summary>When the stream of the current subscription opened (response headers in); null while none is open.
    /// A connecting hive is offline <see cref="HiveLiveness.OfflineAfter"/> after this (or after <see cref="AcceptedAt"/>
    /// while the stream is not open yet) when no frame came.</summary>
    public DateTimeOffset? StreamOpenedAt { get; init; }

    /// <summary>Devices and worker types from <c>GET /capabilities</c>, fetched on subscribe; null until then.</summary>
    public Capabilities? Capabilities { get; init; }

    /// <summary>The models this instance can start workers for (<c>GET /v1/catalog</c>), fetched on subscribe and again when a
    /// frame's <see cref="TelemetryFrame.ModelsVersion"/> differs from <see cref="ModelCatalog.Version"/>; null until fetched,
    /// and for a hive that has no catalog.</summary>
    public ModelCatalog? Catalog { get; init; }

    /// <summary>The version of <see cref="Catalog"/> when it is this instance's (a restarted hive's old catalog is not).</summary>
    public long? CatalogVersion => Catalog is { } c && c.InstanceId == InstanceId ? c.Version : null;

    /// <summary>The last frame applied; its workers are the hive's workers while it is online or degraded.</summary>
    public TelemetryFrame? LastFrame { get; init; }

    /// <summary>Highest <c>seq</c> applied for <see cref="InstanceId"/>; -1 before the first frame.</summary>
    public long LastSeq { get; init; } = -1;

    public DateTimeOffset? LastFrameAt { get; init; }

    /// <summary>Whether a ready from another URL for this hive_id would be a hijack (DESIGN.md "Discovery and telemetry" 4).</summary>
    public bool IsLive => State is HiveState.Connecting or HiveState.Online or HiveState.Degraded;

    /// <summary>The workers that belong in the view: those of the last frame while online or degraded, else none.</summary>
    public IReadOnlyList<ProcessStats> Workers =>
        State is HiveState.Online or HiveState.Degraded && LastFrame is { } f ? f.Workers : [];
}

/// <summary>The queen's view of the cluster at one version. Readers take it without locks.</summary>
public sealed class ClusterSnapshot(long version, ImmutableSortedDictionary<string, HiveEntry> hives)
{
    public static ClusterSnapshot Empty { get; } = new(0, ImmutableSortedDictionary.Create<string, HiveEntry>(StringComparer.Ordinal));

    /// <summary>Grows by one at every change; <see cref="ClusterChange.Version"/> names the snapshot a change produced.</summary>
    public long Version { get; } = version;

    public ImmutableSortedDictionary<string, HiveEntry> Hives { get; } = hives;

    public HiveEntry? Find(string hiveId) => Hives.GetValueOrDefault(hiveId);

    /// <summary>The worker of <paramref name="hiveId"/> on <paramref name="port"/>, if the hive is online or degraded and lists it.</summary>
    public ProcessStats? FindWorker(string hiveId, int port)
    {
        if (Find(hiveId) is not { } hive) return null;
        foreach (var w in hive.Workers)
            if (w.Port == port) return w;
        return null;
    }
}
