using System.Collections.Immutable;
using Rbee.Contracts.Wire;
using Rbee.Hive.Monitoring;

namespace Rbee.Hive.Workers;

/// <summary>
/// One worker in the hive's view (STYLE.md §3): immutable, made only by <see cref="WorkerMonitor"/>'s scan loop and
/// replaced whole when anything about the worker changes. It exists because the worker's cgroup (or process group)
/// exists: found by a scan, or created by a spawn the loop carried out, and it leaves the view when that empties.
/// </summary>
public sealed record WorkerRecord
{
    public required WorkerCgroupName Name { get; init; }

    /// <summary>Tells two workers apart that used the same port one after the other (a restart, a respawn).</summary>
    public required long Generation { get; init; }

    public string Key => Name.Key;
    public int Port => Name.Port;

    /// <summary>Null in process-group mode (no writable cgroup v2).</summary>
    public string? CgroupPath { get; init; }
    /// <summary>The hive's own directory of the worker (its log): the worker never writes here, the shim opens the log.</summary>
    public required string WorkerDirectory { get; init; }

    /// <summary>The one directory the worker may write (its ready file, its HOME when it runs as another user): under
    /// the run directory, which an unprivileged worker can reach even when the hive's state lies under <c>/root</c>.</summary>
    public required string ReadyDirectory { get; init; }
    public string LogPath => Path.Combine(WorkerDirectory, WorkerFiles.Log);
    public string ReadyFile => Path.Combine(ReadyDirectory, WorkerFiles.Ready);

    /// <summary>Null for an adopted worker whose type the catalog no longer names.</summary>
    public WorkerType? Type { get; init; }
    public required string State { get; init; }
    public string? Model { get; init; }
    public string? ModelId { get; init; }
    public string? StartedBy { get; init; }
    public string? Device { get; init; }
    public string? WorkerId { get; init; }
    public bool Adopted { get; init; }
    public bool RestartOnFailure { get; init; }
    public int RestartAttempt { get; init; }

    /// <summary>The process the hive (or its shim) started; null until a scan found it for an adopted worker.</summary>
    public int? MainPid { get; init; }

    /// <summary>Every pid of the worker's cgroup at the last scan (hive-internal: <c>worker_list</c>, stop by pid).</summary>
    public ImmutableArray<int> Pids { get; init; } = [];

    /// <summary>What telemetry sends; null until the first scan sampled the worker.</summary>
    public ProcessStats? Stats { get; init; }

    /// <summary>
    /// Completes when the worker has left the view: its port lease is released (or kept for an on_failure restart) and a
    /// snapshot without it is published, in that order, so a waiter that goes on finds the port free.
    /// </summary>
    public required Task<WorkerExit> Exited { get; init; }
}

/// <summary>How a worker left: its exit code when the hive started it and saw it end, and whether a stop asked for it.</summary>
public sealed record WorkerExit(int? ExitCode, bool Requested);

/// <summary>The files of a worker's directory (DESIGN.md "Workers under the hive": log and ready file).</summary>
public static class WorkerFiles
{
    public const string Log = "worker.log";
    public const string Ready = "ready.json";
}
