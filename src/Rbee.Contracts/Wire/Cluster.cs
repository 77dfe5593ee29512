using System.Text.Json.Serialization;

namespace Rbee.Contracts.Wire;

/// <summary><c>GET /v1/cluster</c> of the queen: every hive and worker with state.</summary>
public sealed record ClusterView(long Version, IReadOnlyList<HiveView> Hives);

public sealed record HiveView(
    string HiveId,
    string HiveUrl,
    string? InstanceId,
    HiveState State,
    string? Reason,
    long? LastFrameAgeMs,
    string? Version,
    int? Protocol,
    IReadOnlyList<DeviceInfo> Devices,
    NodeStats? Node,
    IReadOnlyList<ProcessStats> Workers)
{
    /// <summary>The hive's worker types with their availability and device kinds, from its capabilities (empty before
    /// the queen has read them): what a person may start there (the dashboard's spawn form).</summary>
    public IReadOnlyList<WorkerTypeInfo> WorkerTypes { get; init; } = [];
}

/// <summary>
/// A hive's state at the queen (DESIGN.md "Discovery and telemetry" 5, 6). <c>connecting</c>: a ready was accepted
/// and the queen is subscribing, no frame yet. Only <c>online</c> hives are routed to.
/// </summary>
public enum HiveState
{
    [JsonStringEnumMemberName("connecting")] Connecting,
    [JsonStringEnumMemberName("online")] Online,
    [JsonStringEnumMemberName("degraded")] Degraded,
    [JsonStringEnumMemberName("offline")] Offline,
    [JsonStringEnumMemberName("incompatible")] Incompatible,
}

public static class HiveStateNames
{
    /// <summary>The state's name on the wire (<c>online</c>, …): for tables and log lines, the same words as the JSON.</summary>
    public static string ToWire(this HiveState state) => state switch
    {
        HiveState.Connecting => "connecting",
        HiveState.Online => "online",
        HiveState.Degraded => "degraded",
        HiveState.Offline => "offline",
        HiveState.Incompatible => "incompatible",
        _ => state.ToString(),
    };
}

/// <summary><c>GET /v1/info</c> of the queen.</summary>
public sealed record QueenInfo(string Version, int Protocol, string? AdvertiseUrl, DateTimeOffset StartedAt, bool TokenRequired);

/// <summary>SSE <c>event: summary</c> on the queen's aggregate stream, every 2.5 s.</summary>
public sealed record ClusterSummary(
    long Version,
    DateTimeOffset Timestamp,
    int HivesOnline,
    int HivesDegraded,
    int HivesOffline,
    int HivesIncompatible,
    int Workers,
    int WorkersReady);

/// <summary>SSE <c>event: hive_state</c> on the queen's aggregate stream; <see cref="OldState"/> is null for a hive the queen
/// did not know before.</summary>
public sealed record HiveStateChanged(string HiveId, HiveState? OldState, HiveState NewState, string? Reason, DateTimeOffset Timestamp);

/// <summary>SSE <c>event: worker_added</c> / <c>worker_removed</c> / <c>worker_state</c> on the queen's aggregate stream.</summary>
public sealed record WorkerChanged(string HiveId, ProcessStats Worker, string? OldState, string? NewState, DateTimeOffset Timestamp);

/// <summary>SSE event names of the telemetry streams.</summary>
public static class StreamEvents
{
    public const string Telemetry = "telemetry";
    public const string HiveState = "hive_state";
    public const string WorkerAdded = "worker_added";
    public const string WorkerRemoved = "worker_removed";
    public const string WorkerState = "worker_state";
    public const string Summary = "summary";
    public const string Request = "request";
    public const string WorkerHealth = "worker_health";
}
