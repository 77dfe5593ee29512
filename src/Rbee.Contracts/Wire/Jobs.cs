namespace Rbee.Contracts.Wire;

/// <summary>Answer to <c>POST /v1/jobs</c> (202).</summary>
public sealed record JobAccepted(string JobId, string SseUrl);

/// <summary>Job operations (DESIGN.md "Jobs").</summary>
public static class JobOperations
{
    public const string WorkerSpawn = "worker_spawn";
    public const string WorkerList = "worker_list";
    public const string WorkerStop = "worker_stop";
    public const string HiveCheck = "hive_check";
    public const string ModelList = "model_list";
    public const string ModelDownload = "model_download";
    public const string ModelDelete = "model_delete";
    public const string Infer = "infer";
    public const string Status = "status";

    /// <summary>At the queen: manage (or update) the hive of an SSH host: <c>host</c>, <c>supervisor</c>, <c>want</c>.</summary>
    public const string HiveManage = "hive_manage";

    /// <summary>At the queen: stop managing the hive of an SSH host: <c>host</c>.</summary>
    public const string HiveUnmanage = "hive_unmanage";
}

/// <summary>The fields of <c>worker_spawn</c>. <c>hive_id</c> is used at the queen to name the hive.</summary>
public sealed record WorkerSpawnRequest(string Operation, string? Model, string? WorkerType, string? Device, string? HiveId = null)
{
    /// <summary><see cref="WorkerOrigins.Queen"/> when the queen's scheduler spawns on demand; null for a person's spawn.</summary>
    public string? StartedBy { get; init; }
}

/// <summary>The fields of <c>worker_stop</c>: one of port or pid.</summary>
public sealed record WorkerStopRequest(string Operation, int? Port, int? Pid, string? HiveId = null);

/// <summary>The lines that end a job stream: exactly one of them, then the stream closes.</summary>
public static class JobStreamMarkers
{
    public const string Done = "[DONE]";
    public const string Error = "[ERROR]";
    public const string Cancelled = "[CANCELLED]";
}

/// <summary>Body of <c>POST /v1/shutdown</c> on a hive.</summary>
public sealed record ShutdownRequest(bool StopWorkers = true);
