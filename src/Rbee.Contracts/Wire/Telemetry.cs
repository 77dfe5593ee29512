namespace Rbee.Contracts.Wire;

/// <summary>One SSE <c>event: telemetry</c> frame of a hive's <c>/v1/heartbeats/stream</c>.</summary>
public sealed record TelemetryFrame(
    string HiveId,
    string InstanceId,
    long Seq,
    DateTimeOffset Timestamp,
    NodeStats Node,
    IReadOnlyList<ProcessStats> Workers)
{
    /// <summary>The hive's <see cref="ModelCatalog.Version"/> when the frame was built: the queen fetches
    /// <c>GET /v1/catalog</c> again when it differs from the one it holds. Null from a hive without a catalog.</summary>
    public long? ModelsVersion { get; init; }
}

/// <summary>Machine-wide stats. <c>cpu_pct</c> is a percentage of the whole machine (0–100). Unmeasurable → null.</summary>
public sealed record NodeStats(
    double? CpuPct,
    long? RamUsedBytes,
    long? RamTotalBytes,
    IReadOnlyList<GpuStats> Gpus);

public sealed record GpuStats(
    string Id,
    double? UtilPct,
    long? VramUsedBytes,
    long? VramTotalBytes,
    double? TempC);

/// <summary>
/// One worker as the hive sees it through the OS, in every telemetry frame (DESIGN.md "Wire contract"). <c>cpu_pct</c> is
/// a percentage of one core (busy on two cores reads 200). A value that cannot be measured is null, never 0. The hive's
/// own bookkeeping (every pid of the cgroup, the log file) is not here: it stays on the hive, a <c>worker_list</c> job
/// away. <c>url</c> and the other queen fields are added by the queen in <c>/v1/cluster</c>.
/// </summary>
public sealed record ProcessStats
{
    /// <summary>The worker's main process (the one the hive started, or the one whose parent is outside its cgroup).</summary>
    public required int Pid { get; init; }

    /// <summary>The worker type (<c>llm</c>, <c>vllm</c>, …): the first level of the hive's cgroup tree.</summary>
    public required string Group { get; init; }

    /// <summary>The instance within its group: the port, as text (the seeds' name).</summary>
    public required string Instance { get; init; }

    public required int Port { get; init; }

    /// <summary>One of <see cref="WorkerStates"/>.</summary>
    public required string State { get; init; }

    /// <summary>The model file's path on the hive; null for an adopted worker whose command line names none.</summary>
    public string? Model { get; init; }

    /// <summary><c>cpu</c> or <c>cuda:N</c>; null when not known (an adopted worker without the hive's environment).</summary>
    public string? Device { get; init; }

    public double? CpuPct { get; init; }
    public long? RssMb { get; init; }
    public double? IoReadBps { get; init; }
    public double? IoWriteBps { get; init; }
    public double? UptimeS { get; init; }
    public double? GpuUtilPct { get; init; }
    public long? VramMb { get; init; }
    public long? TotalVramMb { get; init; }

    /// <summary>Worker id given at spawn (null for a worker adopted without one).</summary>
    public string? WorkerId { get; init; }

    /// <summary>The model id the worker answers to (<c>--model-id</c>); <see cref="Model"/> keeps the file's path.</summary>
    public string? ModelId { get; init; }

    /// <summary><c>queen</c> for a worker the queen's scheduler started on demand (subject to its idle timeout); null for
    /// one a person started. Read back from the worker's environment after a hive restart.</summary>
    public string? StartedBy { get; init; }

    /// <summary>Set by the queen: the address clients and the router use.</summary>
    public string? Url { get; init; }

    /// <summary>Set by the queen: requests it has forwarded to this worker that have not ended.</summary>
    public int? InFlight { get; init; }

    /// <summary>Set by the queen: when the last request forwarded to this worker ended (null: none yet).</summary>
    public DateTimeOffset? LastUsedAt { get; init; }

    /// <summary>Set by the queen: the worker is out of scheduling until then after repeated failures (null: it is not).</summary>
    public DateTimeOffset? EjectedUntil { get; init; }

    /// <summary>Set by the queen: when the idle timeout will stop this worker if no request comes (null: it never will).</summary>
    public DateTimeOffset? IdleStopAt { get; init; }
}

/// <summary>Values of <see cref="ProcessStats.StartedBy"/>.</summary>
public static class WorkerOrigins
{
    /// <summary>Started by the queen's scheduler for a request (on demand).</summary>
    public const string Queen = "queen";
}

/// <summary>Worker states (DESIGN.md "Wire contract").</summary>
public static class WorkerStates
{
    public const string Starting = "starting";
    public const string Ready = "ready";
    public const string Stopping = "stopping";
}
