using System.Text.Json;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Json;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Queen.Telemetry;

namespace Rbee.Queen.Cluster;

/// <summary>What the registry made of a <c>POST /v1/hive/ready</c>.</summary>
public enum ReadyOutcome
{
    /// <summary>A hive not known before (or one that moved while offline): subscribe.</summary>
    Registered,
    /// <summary>Same hive_url, new instance_id: the hive restarted; the old entry is replaced, subscribe anew.</summary>
    Restarted,
    /// <summary>Same instance again: no second subscription; make sure the one we have is running.</summary>
    AlreadyKnown,
    /// <summary>A live hive_id from another hive_url: refused with 409, nothing changes.</summary>
    Conflict,
    /// <summary>A protocol the queen does not speak: listed as incompatible, never subscribed or routed to.</summary>
    Incompatible,
}

/// <summary>
/// The one writer of the cluster view (STYLE.md §3): applies readies, frames, stream closes and liveness ticks
/// under a lock taken only for writing, swaps in a new immutable <see cref="ClusterSnapshot"/>, and publishes
/// each change to the aggregate stream. Readers take <see cref="Current"/> without locks.
/// </summary>
public sealed partial class ClusterRegistry(
    HiveLiveness liveness,
    TimeProvider time,
    ClusterEventHub events,
    ILogger<ClusterRegistry> logger)
{
    private readonly Lock _write = new();
    private ClusterSnapshot _current = ClusterSnapshot.Empty;
    // The last refused (hive_id, hive_url): a conflicting hive is probed and readies again every few seconds, and the
    // operator needs its Warning once, not every five seconds. Written under the write lock.
    private (string HiveId, Uri HiveUrl)? _lastConflict;

    public ClusterSnapshot Current => Volatile.Read(ref _current);

    /// <summary>Raised (outside the lock) when a hive goes offline because its frames stopped, not its stream:
    /// the subscription drops that connection, since a blackholed link never recovers on its own.</summary>
    public event Action<string, string>? WentSilent;

    public ReadyOutcome Ready(HiveReady ready, Uri hiveUrl)
    {
        lock (_write)
        {
            var existing = _current.Find(ready.HiveId);
            var now = time.GetUtcNow();
            if (existing is not null && existing.IsLive && !SameUrl(existing.HiveUrl, hiveUrl))
            {
                var repeated = _lastConflict is var (id, url) && id == ready.HiveId && SameUrl(url, hiveUrl);
                _lastConflict = (ready.HiveId, hiveUrl);
                Log.ReadyConflict(logger, repeated ? LogLevel.Debug : LogLevel.Warning, ready.HiveId, hiveUrl.ToString(), existing.HiveUrl.ToString());
                return ReadyOutcome.Conflict;
            }

            if (ready.Protocol != ProtocolConstants.ProtocolVersion)
            {
                var reason = $"hive speaks protocol {ready.Protocol}, the queen speaks {ProtocolConstants.ProtocolVersion}";
                if (existing is not null) RemoveWorkers(existing, now);
                var entry = new HiveEntry
                {
                    HiveId = ready.HiveId, HiveUrl = hiveUrl, InstanceId = ready.InstanceId, Version = ready.Version,
                    Protocol = ready.Protocol, State = HiveStates.Incompatible, Reason = reason,
                };
                Swap(entry);
                PublishState(ready.HiveId, existing?.State, HiveStates.Incompatible, reason, now);
                Log.HiveIncompatible(logger, ready.HiveId, ready.Protocol, ProtocolConstants.ProtocolVersion);
                return ReadyOutcome.Incompatible;
            }

            if (existing is not null && SameUrl(existing.HiveUrl, hiveUrl) && existing.InstanceId == ready.InstanceId
                && existing.State != HiveStates.Incompatible)
                return ReadyOutcome.AlreadyKnown;

            var restarted = existing is not null && SameUrl(existing.HiveUrl, hiveUrl) && existing.InstanceId != ready.InstanceId;
            // A restart keeps the last frame so the first frame of the new instance is diffed against what the
            // stream showed (workers the new instance re-adopted are not removed and added again).
            var keepFrame = restarted && existing!.State is HiveStates.Online or HiveStates.Degraded;
            if (existing is not null && !keepFrame) RemoveWorkers(existing, now);
            Swap(new HiveEntry
            {
                HiveId = ready.HiveId,
                HiveUrl = hiveUrl,
                InstanceId = ready.InstanceId,
                Version = ready.Version,
                Protocol = ready.Protocol,
                State = keepFrame ? existing!.State : HiveStates.Offline,
                Reason = keepFrame ? null : "subscribing",
                Connecting = true,
                LastFrame = keepFrame ? existing!.LastFrame : null,
                LastFrameAt = keepFrame ? existing!.LastFrameAt : null,
                Capabilities = null,
            });
            return restarted ? ReadyOutcome.Restarted : ReadyOutcome.Registered;
        }
    }

    /// <summary>Stores the capabilities (devices) fetched on subscribe, if they belong to the current instance.</summary>
    public void SetCapabilities(string hiveId, Capabilities capabilities)
    {
        lock (_write)
        {
            var e = _current.Find(hiveId);
            if (e is null || e.InstanceId != capabilities.InstanceId) return;
            Swap(e with { Capabilities = capabilities });
        }
    }

    /// <summary>
    /// Applies one frame of a hive's stream. Ignored (false) when it is from another instance than the entry's
    /// or not newer than the last applied <c>seq</c> (DESIGN.md "Discovery and telemetry" 4).
    /// </summary>
    public bool ApplyFrame(TelemetryFrame frame)
    {
        lock (_write)
        {
            var e = _current.Find(frame.HiveId);
            if (e is null || e.State == HiveStates.Incompatible || e.InstanceId != frame.InstanceId || frame.Seq <= e.LastSeq)
                return false;
            var now = time.GetUtcNow();
            var previousWorkers = e.Workers;
            var next = e with
            {
                State = HiveStates.Online, Reason = null, Connecting = false,
                LastFrame = frame, LastSeq = frame.Seq, LastFrameAt = now,
            };
            Swap(next);
            if (events.HasSubscribers)
                events.Publish(new ClusterStreamEvent(StreamEvents.Telemetry,
                    JsonSerializer.SerializeToUtf8Bytes(frame, RbeeJsonContext.Default.TelemetryFrame)));
            if (e.State != HiveStates.Online)
            {
                PublishState(e.HiveId, e.State, HiveStates.Online, null, now);
                Log.HiveOnline(logger, e.HiveId, e.HiveUrl.ToString(), e.State);
            }
            DiffWorkers(e.HiveId, previousWorkers, frame.Workers, now);
            return true;
        }
    }

    /// <summary>The hive's stream ended (or could not be opened): offline at once, its workers leave the view.</summary>
    public void StreamClosed(string hiveId, string instanceId, string reason)
    {
        lock (_write)
        {
            var e = _current.Find(hiveId);
            if (e is null || e.InstanceId != instanceId || e.State == HiveStates.Incompatible) return;
            if (e.State == HiveStates.Offline && !e.Connecting) return;
            var now = time.GetUtcNow();
            RemoveWorkers(e, now);
            Swap(e with { State = HiveStates.Offline, Reason = reason, Connecting = false });
            if (e.State != HiveStates.Offline)
            {
                PublishState(hiveId, e.State, HiveStates.Offline, reason, now);
                Log.HiveOffline(logger, hiveId, reason);
            }
        }
    }

    /// <summary>Re-evaluates liveness of every hive at the current time (called by the liveness monitor).</summary>
    public void Tick()
    {
        List<(string, string)>? silenced = null;
        var snapshot = Current;
        var now = time.GetUtcNow();
        // Cheap lock-free pre-check: most ticks change nothing.
        var anyChange = false;
        foreach (var e in snapshot.Hives.Values)
            if (e.LastFrameAt is { } at && e.State is HiveStates.Online or HiveStates.Degraded && liveness.StateAt(at, now) != e.State)
            { anyChange = true; break; }
        if (!anyChange) return;

        lock (_write)
        {
            foreach (var e in _current.Hives.Values)
            {
                if (e.LastFrameAt is not { } at || e.State is not (HiveStates.Online or HiveStates.Degraded)) continue;
                var state = liveness.StateAt(at, now);
                if (state == e.State) continue;
                var reason = $"no frame for {(long)(now - at).TotalMilliseconds} ms";
                if (state == HiveStates.Offline)
                {
                    RemoveWorkers(e, now);
                    (silenced ??= []).Add((e.HiveId, e.InstanceId));
                    Log.HiveOffline(logger, e.HiveId, reason);
                }
                else
                {
                    Log.HiveDegraded(logger, e.HiveId, reason);
                }
                Swap(e with { State = state, Reason = reason, Connecting = false });
                PublishState(e.HiveId, e.State, state, reason, now);
            }
        }
        if (silenced is not null)
            foreach (var (hiveId, instanceId) in silenced) WentSilent?.Invoke(hiveId, instanceId);
    }

    private void RemoveWorkers(HiveEntry e, DateTimeOffset now) => DiffWorkers(e.HiveId, e.Workers, [], now);

    private void DiffWorkers(string hiveId, IReadOnlyList<ProcessStats> before, IReadOnlyList<ProcessStats> after, DateTimeOffset now)
    {
        // Most frames repeat the last one's workers in the same order: no events and, on this per-frame path, no dictionary.
        if (!events.HasSubscribers || Unchanged(before, after)) return;
        var old = new Dictionary<(string, string), ProcessStats>(before.Count);
        foreach (var w in before) old[(w.Group, w.Instance)] = w;
        foreach (var w in after)
        {
            if (!old.Remove((w.Group, w.Instance), out var was))
                PublishWorker(StreamEvents.WorkerAdded, new WorkerChanged(hiveId, w, null, w.State, now));
            else if (was.State != w.State || was.Pid != w.Pid)
                PublishWorker(StreamEvents.WorkerState, new WorkerChanged(hiveId, w, was.State, w.State, now));
        }
        foreach (var w in old.Values)
            PublishWorker(StreamEvents.WorkerRemoved, new WorkerChanged(hiveId, w, w.State, null, now));
    }

    private static bool Unchanged(IReadOnlyList<ProcessStats> before, IReadOnlyList<ProcessStats> after)
    {
        if (before.Count != after.Count) return false;
        for (var i = 0; i < before.Count; i++)
        {
            var (b, a) = (before[i], after[i]);
            if (b.Group != a.Group || b.Instance != a.Instance || b.State != a.State || b.Pid != a.Pid) return false;
        }
        return true;
    }

    private void PublishWorker(string name, WorkerChanged change) =>
        events.Publish(new ClusterStreamEvent(name, JsonSerializer.SerializeToUtf8Bytes(change, RbeeJsonContext.Default.WorkerChanged)));

    private void PublishState(string hiveId, string? oldState, string newState, string? reason, DateTimeOffset now)
    {
        if (!events.HasSubscribers || oldState == newState) return;
        events.Publish(new ClusterStreamEvent(StreamEvents.HiveState, JsonSerializer.SerializeToUtf8Bytes(
            new HiveStateChanged(hiveId, oldState, newState, reason, now), RbeeJsonContext.Default.HiveStateChanged)));
    }

    private void Swap(HiveEntry entry)
    {
        var current = _current;
        Volatile.Write(ref _current, new ClusterSnapshot(current.Version + 1, current.Hives.SetItem(entry.HiveId, entry)));
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }

    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>True once <paramref name="predicate"/> holds on the current snapshot (at once or after a change), false
    /// when <paramref name="timeout"/> passes first.</summary>
    public async Task<bool> WaitForAsync(Func<ClusterSnapshot, bool> predicate, TimeSpan timeout, CancellationToken ct)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(timeout);
        try
        {
            while (true)
            {
                var changed = Volatile.Read(ref _changed).Task;
                if (predicate(Current)) return true;
                await changed.WaitAsync(bound.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return predicate(Current);
        }
    }

    private static bool SameUrl(Uri a, Uri b) => Uri.Compare(a, b, UriComponents.SchemeAndServer | UriComponents.Path,
        UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;

    private static partial class Log
    {
        [LoggerMessage(EventId = QueenEventIds.HiveOnline, Level = LogLevel.Information, Message = "hive {HiveId} online at {HiveUrl} (was {Previous})")]
        public static partial void HiveOnline(ILogger logger, string hiveId, string hiveUrl, string previous);

        [LoggerMessage(EventId = QueenEventIds.HiveDegraded, Level = LogLevel.Warning, Message = "hive {HiveId} degraded: {Reason}")]
        public static partial void HiveDegraded(ILogger logger, string hiveId, string reason);

        [LoggerMessage(EventId = QueenEventIds.HiveOffline, Level = LogLevel.Warning, Message = "hive {HiveId} offline: {Reason}")]
        public static partial void HiveOffline(ILogger logger, string hiveId, string reason);

        [LoggerMessage(EventId = QueenEventIds.ReadyConflict, Message = "ready for live hive {HiveId} from {HiveUrl} refused: held by {HeldBy}")]
        public static partial void ReadyConflict(ILogger logger, LogLevel level, string hiveId, string hiveUrl, string heldBy);

        [LoggerMessage(EventId = QueenEventIds.HiveIncompatible, Level = LogLevel.Warning, Message = "hive {HiveId} speaks protocol {HiveProtocol}, queen speaks {QueenProtocol}: listed as incompatible")]
        public static partial void HiveIncompatible(ILogger logger, string hiveId, int hiveProtocol, int queenProtocol);
    }
}
