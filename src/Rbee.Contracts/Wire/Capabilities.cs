namespace Rbee.Contracts.Wire;

/// <summary><c>GET /capabilities</c> of a hive.</summary>
public sealed record Capabilities(
    string HiveId,
    string HiveUrl,
    string InstanceId,
    string Version,
    int Protocol,
    MonitoringInfo Monitoring,
    IReadOnlyList<DeviceInfo> Devices,
    IReadOnlyList<WorkerTypeInfo> WorkerTypes);

/// <summary>How the hive watches its workers: <c>cgroup_v2</c> (with its root) or <c>process_groups</c> (with the reason).</summary>
public sealed record MonitoringInfo(string Mode, string? Root = null, string? Reason = null)
{
    public const string CgroupV2 = "cgroup_v2";
    public const string ProcessGroups = "process_groups";
}

/// <summary>A device a worker can run on: <c>cpu</c> always, <c>cuda:N</c> per NVIDIA GPU.</summary>
public sealed record DeviceInfo(
    string Id,
    string Kind,
    string Name,
    int? Cores = null,
    long? RamTotalBytes = null,
    long? VramTotalBytes = null);

public sealed record WorkerTypeInfo(string Name, bool Available, int BasePort, string? Reason = null)
{
    /// <summary>Device kinds the type runs on (<c>cpu</c>, <c>cuda</c>): where the queen may place it.</summary>
    public IReadOnlyList<string>? DeviceKinds { get; init; }
}
