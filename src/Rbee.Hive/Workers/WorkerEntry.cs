using System.Diagnostics;
using Rbee.Contracts.Wire;
using Rbee.Hive.Monitoring;

namespace Rbee.Hive.Workers;

/// <summary>
/// What the hive holds about one worker cgroup between scans. It is not a registry of record: an entry exists because
/// the cgroup exists (found by a scan, or created by a spawn a moment before its process enters it) and goes when the
/// cgroup empties. Mutated only by the monitor's scan (stats, state) and by spawn/stop (flags); readers use the
/// immutable <see cref="ProcessStats"/> snapshot instead.
/// </summary>
public sealed class WorkerEntry
{
    public WorkerEntry(WorkerCgroupName name, string? cgroupPath, string workerDirectory, WorkerType? type)
    {
        Name = name;
        CgroupPath = cgroupPath;
        WorkerDirectory = workerDirectory;
        Type = type;
        Key = name.Key;
        LogPath = Path.Combine(workerDirectory, "worker.log");
        ReadyFile = Path.Combine(workerDirectory, "ready.json");
        if (cgroupPath is not null)
        {
            ProcsFile = Path.Combine(cgroupPath, "cgroup.procs");
            CpuStatFile = Path.Combine(cgroupPath, "cpu.stat");
            MemoryCurrentFile = Path.Combine(cgroupPath, "memory.current");
            IoStatFile = Path.Combine(cgroupPath, "io.stat");
        }
    }

    public WorkerCgroupName Name { get; }
    // Paths are built once: the scan reads them every second for every worker.
    public string Key { get; }
    public int Port => Name.Port;

    /// <summary>Null in process-group mode (no writable cgroup v2).</summary>
    public string? CgroupPath { get; }
    public string WorkerDirectory { get; }
    public string LogPath { get; }
    public string ReadyFile { get; }
    internal string? ProcsFile { get; }
    internal string? CpuStatFile { get; }
    internal string? MemoryCurrentFile { get; }
    internal string? IoStatFile { get; }

    /// <summary>Null for an adopted worker whose type the catalog no longer names.</summary>
    public WorkerType? Type { get; }
    public PortLease? Lease { get; set; }
    public string? Model { get; set; }

    /// <summary>The id the worker answers to on the OpenAI API (the catalog's); null only for an adopted worker with no model.</summary>
    public string? ModelId { get; set; }

    /// <summary><c>queen</c> for a worker the queen started on demand; null for one a person started.</summary>
    public string? StartedBy { get; set; }
    public string? Device { get; set; }
    public string? WorkerId { get; set; }
    public bool RestartOnFailure { get; set; }
    public int RestartAttempt { get; set; }
    public bool Adopted { get; init; }

    /// <summary>The process the hive started (null when adopted): its exit is a second, immediate exit signal.</summary>
    public Process? Child { get; set; }
    public int? MainPid { get; set; }

    public volatile bool SeenPopulated;
    public volatile bool StopRequested;
    public volatile bool HealthOk;

    public string State { get; set; } = WorkerStates.Starting;
    public DateTimeOffset StartedAt { get; init; } = DateTimeOffset.UtcNow;

    public int EventsWatch { get; set; } = -1;
    public int DirectoryWatch { get; set; } = -1;

    public TaskCompletionSource ReadySignal { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource GoneSignal { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public CancellationTokenSource Lifetime { get; } = new();

    // Sampling state of the monitor (deltas between scans).
    internal long? LastCpuUsec;
    internal long LastSampleTimestamp;
    internal (long Read, long Write)? LastIo;
    internal ProcessStats? LastStats;
    internal int ScansSinceLogCheck;
    // Whether this cgroup has memory.current / io.stat (controllers on v2); asked once, not every second.
    internal bool? HasMemoryCurrent;
    internal bool? HasIoStat;
    internal Dictionary<int, long> StartTicks { get; } = [];
}
