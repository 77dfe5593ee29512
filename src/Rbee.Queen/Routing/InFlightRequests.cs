using Rbee.Queen.Scheduling;

namespace Rbee.Queen.Routing;

/// <summary>
/// The attempts the queen has open toward workers, by hive, so that one whose worker became unreachable can be ended
/// (<see cref="UnreachableWorkerSweep"/>) instead of waiting out <see cref="SchedulingOptions.WorkerIdleTimeout"/>.
/// Touched twice per attempt (start, end), never per chunk; a lock is cheaper than anything cleverer at that rate.
/// </summary>
public sealed class InFlightRequests
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, List<Attempt>> _byHive = new(StringComparer.Ordinal);

    /// <summary>Records an attempt on <paramref name="key"/> at <paramref name="url"/>; dispose when the attempt ends.</summary>
    public IDisposable Track(WorkerKey key, string url, WorkerDeadline deadline)
    {
        var attempt = new Attempt(this, key, url, deadline);
        lock (_lock)
        {
            if (!_byHive.TryGetValue(key.HiveId, out var list)) _byHive[key.HiveId] = list = [];
            list.Add(attempt);
        }
        return attempt;
    }

    /// <summary>The workers of <paramref name="hiveId"/> that have attempts open now, each once.</summary>
    public IReadOnlyList<(WorkerKey Key, string Url)> WorkersOf(string hiveId)
    {
        lock (_lock)
        {
            return _byHive.TryGetValue(hiveId, out var list) ? [.. list.Select(a => (a.Key, a.Url)).Distinct()] : [];
        }
    }

    /// <summary>Attempts open on <paramref name="hiveId"/>'s workers.</summary>
    public int CountOn(string hiveId)
    {
        lock (_lock) return _byHive.TryGetValue(hiveId, out var list) ? list.Count : 0;
    }

    /// <summary>Ends every attempt open on <paramref name="key"/>: its reads and writes toward the worker are cancelled and
    /// the request fails over (nothing sent to its client yet) or ends with an error; returns how many.</summary>
    public int Abandon(WorkerKey key, string reason)
    {
        List<Attempt> ending;
        lock (_lock)
        {
            if (!_byHive.TryGetValue(key.HiveId, out var list)) return 0;
            ending = list.FindAll(a => a.Key == key);
        }
        // Outside the lock: cancelling runs the attempt's continuations, which end it and take the lock to leave.
        foreach (var a in ending) a.Deadline.Abandon(reason);
        return ending.Count;
    }

    private void Remove(Attempt attempt)
    {
        lock (_lock)
        {
            if (!_byHive.TryGetValue(attempt.Key.HiveId, out var list)) return;
            list.Remove(attempt);
            if (list.Count == 0) _byHive.Remove(attempt.Key.HiveId);
        }
    }

    private sealed class Attempt(InFlightRequests owner, WorkerKey key, string url, WorkerDeadline deadline) : IDisposable
    {
        public WorkerKey Key { get; } = key;
        public string Url { get; } = url;
        public WorkerDeadline Deadline { get; } = deadline;

        public void Dispose() => owner.Remove(this);
    }
}
