using Rbee.Contracts.Wire;

namespace Rbee.Queen.Cluster;

/// <summary>
/// One change of the cluster view, published by <see cref="ClusterRegistry"/> after the snapshot that holds it is in
/// place (so <see cref="ClusterRegistry.Current"/> already shows it, or something newer), in the order the registry made
/// the changes. <see cref="Version"/> is the <see cref="ClusterSnapshot.Version"/> the change produced.
/// </summary>
public abstract record ClusterChange(long Version, string HiveId, DateTimeOffset Timestamp);

/// <summary>A hive changed state; <see cref="OldState"/> is null for a hive the queen did not know before.</summary>
public sealed record HiveStateChange(long Version, string HiveId, HiveState? OldState, HiveState NewState, string? Reason, DateTimeOffset Timestamp)
    : ClusterChange(Version, HiveId, Timestamp);

/// <summary>A worker entered the view (a frame listed it for the first time, or its hive came back online).</summary>
public sealed record WorkerAdded(long Version, string HiveId, ProcessStats Worker, DateTimeOffset Timestamp)
    : ClusterChange(Version, HiveId, Timestamp);

/// <summary>A worker left the view: its hive no longer lists it, or the hive went offline or restarted without it.
/// <see cref="Worker"/> is the worker as it was last seen.</summary>
public sealed record WorkerRemoved(long Version, string HiveId, ProcessStats Worker, DateTimeOffset Timestamp)
    : ClusterChange(Version, HiveId, Timestamp);

/// <summary>A worker's state (or its pid, after a restart on its port) changed; <see cref="Worker"/> is the new one.</summary>
public sealed record WorkerStateChange(long Version, string HiveId, ProcessStats Worker, string OldState, string NewState, DateTimeOffset Timestamp)
    : ClusterChange(Version, HiveId, Timestamp);

/// <summary>
/// A telemetry frame was applied. <see cref="Json"/> is the frame's UTF-8 JSON exactly as the hive sent it (empty when
/// the frame did not come off a stream), so the aggregate stream forwards it without serializing it again.
/// </summary>
public sealed record FrameApplied(long Version, string HiveId, TelemetryFrame Frame, ReadOnlyMemory<byte> Json, DateTimeOffset Timestamp)
    : ClusterChange(Version, HiveId, Timestamp);

/// <summary>The hive's model catalog was fetched and differs from the one held before.</summary>
public sealed record CatalogChanged(long Version, string HiveId, ModelCatalog Catalog, DateTimeOffset Timestamp)
    : ClusterChange(Version, HiveId, Timestamp);
