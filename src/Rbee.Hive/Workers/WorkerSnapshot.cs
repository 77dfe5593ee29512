using System.Collections.Immutable;
using Rbee.Contracts.Wire;

namespace Rbee.Hive.Workers;

/// <summary>
/// The hive's workers at one version (STYLE.md §3, like the queen's <c>ClusterSnapshot</c>): published by the scan loop,
/// read without locks by telemetry, jobs and capabilities. Workers are ordered by type, then port.
/// </summary>
public sealed class WorkerSnapshot
{
    public static WorkerSnapshot Empty { get; } = new(0, [], []);

    public WorkerSnapshot(long version, ImmutableArray<WorkerRecord> workers, ImmutableArray<WorkerChange> changes)
    {
        Version = version;
        Workers = workers;
        Changes = changes;
        var stats = new ProcessStats[workers.Length];
        var n = 0;
        foreach (var w in workers)
            if (w.Stats is { } s) stats[n++] = s;
        Array.Resize(ref stats, n);
        Stats = stats;
    }

    /// <summary>Grows by one at every publication.</summary>
    public long Version { get; }

    public ImmutableArray<WorkerRecord> Workers { get; }

    /// <summary>What a telemetry frame carries: every worker sampled at least once, in the same order.</summary>
    public IReadOnlyList<ProcessStats> Stats { get; }

    /// <summary>What changed since the previous version (empty for a scan that only refreshed figures).</summary>
    public ImmutableArray<WorkerChange> Changes { get; }

    public WorkerRecord? Find(string key)
    {
        foreach (var w in Workers)
            if (w.Key == key) return w;
        return null;
    }

    public WorkerRecord? FindByPort(int port)
    {
        foreach (var w in Workers)
            if (w.Port == port) return w;
        return null;
    }

    public WorkerRecord? FindByPid(int pid)
    {
        foreach (var w in Workers)
            if (w.MainPid == pid || w.Pids.Contains(pid)) return w;
        return null;
    }

    /// <summary>Whether this generation of the worker is still in the view.</summary>
    public bool Holds(WorkerRecord worker) => Find(worker.Key) is { } w && w.Generation == worker.Generation;
}

/// <summary>One change of the worker view; <see cref="Version"/> is the snapshot it produced.</summary>
public abstract record WorkerChange(long Version, string Key);

/// <summary>A worker entered the view (spawned, adopted, or back after an on_failure restart).</summary>
public sealed record WorkerJoined(long Version, string Key, WorkerRecord Worker) : WorkerChange(Version, Key);

/// <summary>A worker's state changed (starting → ready, → stopping).</summary>
public sealed record WorkerStateChanged(long Version, string Key, string OldState, string NewState) : WorkerChange(Version, Key);

/// <summary>A worker left the view; its port lease was dealt with first.</summary>
public sealed record WorkerLeft(long Version, string Key, WorkerExit Exit) : WorkerChange(Version, Key);
