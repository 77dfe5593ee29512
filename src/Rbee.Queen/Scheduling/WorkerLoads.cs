using System.Collections.Concurrent;

namespace Rbee.Queen.Scheduling;

/// <summary>How one forwarded request ended, as far as the worker's health is concerned.</summary>
public enum RequestOutcome
{
    /// <summary>The worker answered (any status it chose to send, 4xx included: the client's fault is not the worker's).</summary>
    Success,
    /// <summary>The worker said its slots are full (429/503): not a failure; it takes no more until one of its requests ends.</summary>
    Busy,
    /// <summary>Connection refused or reset, a 5xx, a response cut short: counts toward ejection.</summary>
    Failure,
    /// <summary>The client went away: says nothing about the worker.</summary>
    Cancelled,
}

/// <summary>A worker's health changed: ejected (with until when) or put back.</summary>
public sealed record WorkerHealthChange(WorkerKey Key, string Url, bool Ejected, DateTimeOffset? EjectedUntil, int ConsecutiveFailures, string Reason);

/// <summary>
/// What the queen itself knows about each worker, beside the telemetry: requests in flight (it counts its own),
/// when it was last used, and passive health in the manner of Envoy's outlier detection: after
/// <see cref="SchedulingOptions.EjectAfterFailures"/> consecutive failures a worker is ejected for
/// <see cref="SchedulingOptions.EjectionBase"/>, doubling on each repeat up to <see cref="SchedulingOptions.EjectionMax"/>,
/// and put back when the time is up or at once when a probe of its <c>/health</c> succeeds. Each worker's record has a
/// lock of its own (no lock is shared between workers); a record goes when its worker leaves the cluster view
/// (<see cref="Retain"/>).
/// </summary>
public sealed class WorkerLoads(SchedulingOptions options, TimeProvider time)
{
    private readonly ConcurrentDictionary<WorkerKey, Record> _records = new();

    /// <summary>Raised (on the caller's thread, outside any lock) when a worker is ejected or put back.</summary>
    public event Action<WorkerHealthChange>? HealthChanged;

    /// <summary>Raised when a worker takes requests again for a reason other than one of its requests ending (a health
    /// probe put it back, a stop was called off): requests waiting for its model may take it now.</summary>
    public event Action<WorkerKey>? Reopened;

    public sealed class Record(string url, DateTimeOffset firstSeen)
    {
        internal int InFlightCount; // written under Gate, read without it
        internal readonly Lock Gate = new();
        public string Url { get; internal set; } = url;
        public DateTimeOffset FirstSeen { get; } = firstSeen;
        public DateTimeOffset? LastUsedAt { get; internal set; }
        public int ConsecutiveFailures { get; internal set; }
        public int Ejections { get; internal set; }
        public DateTimeOffset? EjectedUntil { get; internal set; }
        public DateTimeOffset? BusyUntil { get; internal set; }

        /// <summary>Being stopped by the idle timeout: it takes no new request.</summary>
        public bool Retiring { get; internal set; }
        public int InFlight => Volatile.Read(ref InFlightCount);
    }

    public Record Get(WorkerKey key, string url) => _records.GetOrAdd(key, static (_, a) => new Record(a.url, a.now), (url, now: time.GetUtcNow()));

    public Record? Find(WorkerKey key) => _records.GetValueOrDefault(key);

    public int InFlight(WorkerKey key) => _records.TryGetValue(key, out var r) ? r.InFlight : 0;

    /// <summary>Whether the worker may take one more request now: not ejected, not saying it is full, under its cap.</summary>
    public bool HasRoom(WorkerKey key, string url) => Check(key, url, take: false);

    /// <summary>Counts a request as sent to the worker if it still has room (checked and counted as one step); pair with
    /// <see cref="Release"/>.</summary>
    public bool TryAcquire(WorkerKey key, string url) => Check(key, url, take: true);

    private bool Check(WorkerKey key, string url, bool take)
    {
        var r = Get(key, url);
        var now = time.GetUtcNow();
        WorkerHealthChange? restored = null;
        bool room;
        lock (r.Gate)
        {
            // An ejection whose time is up ends at the first look, whoever looks.
            if (r.EjectedUntil is { } until && now >= until) restored = Restore(key, r, "ejection time is up");
            room = !r.Retiring && r.EjectedUntil is null && !(r.BusyUntil is { } busy && now < busy) && r.InFlight < options.MaxInFlightPerWorker;
            if (room && take) r.InFlightCount++;
        }
        if (restored is not null) HealthChanged?.Invoke(restored);
        return room;
    }

    /// <summary>Marks an idle worker as being stopped, so nothing is sent to it; false when it has a request now.</summary>
    public bool TryRetire(WorkerKey key)
    {
        if (!_records.TryGetValue(key, out var r)) return false;
        lock (r.Gate)
        {
            if (r.InFlight > 0) return false;
            r.Retiring = true;
            return true;
        }
    }

    /// <summary>The stop of a retiring worker failed: it takes requests again.</summary>
    public void Unretire(WorkerKey key)
    {
        if (_records.TryGetValue(key, out var r)) lock (r.Gate) r.Retiring = false;
        Reopened?.Invoke(key);
    }

    /// <summary>Ends a request the worker took and applies what its outcome says about the worker.</summary>
    public void Release(WorkerKey key, RequestOutcome outcome, string? reason = null)
    {
        if (!_records.TryGetValue(key, out var r)) return;
        var now = time.GetUtcNow();
        WorkerHealthChange? change = null;
        lock (r.Gate)
        {
            r.InFlightCount--;
            r.LastUsedAt = now;
            // Any end but "busy" frees a place on the worker, whatever a 429/503 said before.
            r.BusyUntil = outcome == RequestOutcome.Busy ? now + BusyBackoff : null;
            if (outcome == RequestOutcome.Success)
            {
                r.ConsecutiveFailures = 0;
                r.Ejections = 0;
            }
            else if (outcome == RequestOutcome.Failure && ++r.ConsecutiveFailures >= options.EjectAfterFailures && r.EjectedUntil is null)
            {
                var factor = 1L << Math.Min(r.Ejections, 20);
                var span = TimeSpan.FromTicks(Math.Min(options.EjectionMax.Ticks, options.EjectionBase.Ticks * factor));
                r.Ejections++;
                r.EjectedUntil = now + span;
                change = new WorkerHealthChange(key, r.Url, true, r.EjectedUntil, r.ConsecutiveFailures,
                    $"{r.ConsecutiveFailures} consecutive failures, the last: {reason ?? "unknown"}");
                r.ConsecutiveFailures = 0;
            }
        }
        if (change is not null) HealthChanged?.Invoke(change);
    }

    /// <summary>A probe of an ejected worker's <c>/health</c> succeeded: it is a candidate again at once.</summary>
    public void ProbeSucceeded(WorkerKey key)
    {
        if (!_records.TryGetValue(key, out var r)) return;
        WorkerHealthChange restored;
        lock (r.Gate)
        {
            if (r.EjectedUntil is null) return;
            restored = Restore(key, r, "health probe succeeded");
        }
        HealthChanged?.Invoke(restored);
        Reopened?.Invoke(key);
    }

    /// <summary>Workers ejected now, with their address (for the health prober).</summary>
    public List<(WorkerKey Key, string Url)> Ejected()
    {
        var now = time.GetUtcNow();
        var list = new List<(WorkerKey, string)>();
        foreach (var (key, r) in _records)
            if (r.EjectedUntil is { } until && now < until) list.Add((key, r.Url));
        return list;
    }

    /// <summary>The earliest moment an ejection or a busy mark ends, so waiting requests can be retried then.</summary>
    public DateTimeOffset? NextExpiry()
    {
        DateTimeOffset? next = null;
        var now = time.GetUtcNow();
        foreach (var r in _records.Values)
        {
            if (r.EjectedUntil is { } e && e > now && (next is null || e < next)) next = e;
            if (r.BusyUntil is { } b && b > now && (next is null || b < next)) next = b;
        }
        return next;
    }

    /// <summary>Forgets workers that are no longer in the cluster view (a worker that comes back is a new record).</summary>
    public void Retain(Func<WorkerKey, bool> present)
    {
        foreach (var key in _records.Keys)
            if (!present(key) && _records.TryGetValue(key, out var r) && r.InFlight == 0) _records.TryRemove(key, out _);
    }

    private static WorkerHealthChange Restore(WorkerKey key, Record r, string reason)
    {
        r.EjectedUntil = null;
        return new WorkerHealthChange(key, r.Url, false, null, r.ConsecutiveFailures, reason);
    }

    /// <summary>How long a worker that answered 429/503 is left alone when nothing it runs ends first.</summary>
    public static readonly TimeSpan BusyBackoff = TimeSpan.FromSeconds(1);
}
