using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;

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
    /// <summary>A new hive while the view holds <see cref="ClusterOptions.MaxHives"/> live ones: refused with 503.</summary>
    Full,
}

/// <summary>
/// The one writer of the cluster view (STYLE.md §3, Orleans' membership table): applies readies, frames, stream opens
/// and closes, catalogs and liveness verdicts under a lock taken only for writing, and swaps in a new immutable
/// <see cref="ClusterSnapshot"/>. Readers take <see cref="Current"/> without locks, await a condition with
/// <see cref="WaitForAsync"/>, or follow the typed <see cref="ClusterChange"/>s with <see cref="Subscribe"/>. Changes are
/// queued under the write lock (that fixes their order) and handed to subscribers after it is released; nothing here
/// serializes: the aggregate stream does that, once per change, and only while someone reads it.
/// </summary>
public sealed partial class ClusterRegistry(HiveLiveness liveness, TimeProvider time, ILogger<ClusterRegistry> logger, ClusterOptions? options = null)
{
    private readonly ClusterOptions _options = options ?? new ClusterOptions();

    // Which hives are never forgotten while offline: the ones the SSH config names (set by SshConfigDiscovery).
    private Func<HiveEntry, bool> _kept = static _ => false;

    /// <summary>Queue length of a subscriber that does not name one: about 40 s of a 100-hive cluster's frames.</summary>
    public const int DefaultSubscriberCapacity = 4096;

    private readonly Lock _write = new();
    private readonly Lock _publish = new();
    private readonly ConcurrentQueue<ClusterChange> _outbox = new();
    private ClusterChangeSubscription[] _subscribers = [];
    private ClusterSnapshot _current = ClusterSnapshot.Empty;
    // Completed (and cleared) after every swap; created by the first waiter after it, so a swap nobody waits for costs nothing.
    private TaskCompletionSource? _swapped;
    // The last refused (hive_id, hive_url): a conflicting hive is probed and readies again every few seconds, and the
    // operator needs its Warning once, not every five seconds. Written under the write lock.
    private (string HiveId, Uri HiveUrl)? _lastConflict;

    public ClusterSnapshot Current => Volatile.Read(ref _current);

    /// <summary>Whether any in-process reader follows the changes; without one, per-frame worker diffs are skipped.</summary>
    public bool HasSubscribers => Volatile.Read(ref _subscribers).Length > 0;

    /// <summary>
    /// Raised (outside the lock) when liveness takes a hive offline although its stream may still be open: frames stopped
    /// (a blackholed link) or a connecting hive never sent its first one. The subscription drops that connection, since
    /// such a link never recovers on its own. Arguments: hive_id, instance_id.
    /// </summary>
    public event Action<string, string>? WentSilent;

    /// <summary>
    /// A reader of every change made from now on, with its own queue of <paramref name="capacity"/> changes (oldest dropped
    /// when it is full). Read <see cref="Current"/> after this call for the state to apply the changes to.
    /// </summary>
    public ClusterChangeSubscription Subscribe(int capacity = DefaultSubscriberCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        // Under the write lock, so no change is half-way: the subscriber gets exactly those after this version.
        lock (_write)
        {
            var subscription = new ClusterChangeSubscription(this, capacity, _current.Version);
            _subscribers = [.. _subscribers, subscription];
            return subscription;
        }
    }

    internal void Unsubscribe(ClusterChangeSubscription subscription)
    {
        lock (_write)
        {
            var i = Array.IndexOf(_subscribers, subscription);
            if (i < 0) return;
            _subscribers = [.. _subscribers.AsSpan(0, i), .. _subscribers.AsSpan(i + 1)];
        }
    }

    /// <summary>
    /// Completes true as soon as <paramref name="predicate"/> holds for the current snapshot (at once when it already
    /// does), false when <paramref name="timeout"/> (on the registry's <see cref="TimeProvider"/>) passes first, and throws
    /// <see cref="OperationCanceledException"/> when <paramref name="ct"/> is cancelled. The predicate is evaluated on
    /// each new snapshot, never on a timer; it must be cheap and must not block.
    /// </summary>
    public async Task<bool> WaitForAsync(Func<ClusterSnapshot, bool> predicate, TimeSpan timeout, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan) throw new ArgumentOutOfRangeException(nameof(timeout));
        if (predicate(Current)) return true;
        ct.ThrowIfCancellationRequested();
        if (timeout == TimeSpan.Zero) return false;

        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
        while (true)
        {
            // Take the signal before looking: a swap after the look completes it; one before it is seen by the look.
            var swapped = NextSwap();
            if (predicate(Current)) return true;
            try
            {
                await swapped.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return predicate(Current);
            }
        }
    }

    private Task NextSwap()
    {
        var tcs = Volatile.Read(ref _swapped);
        if (tcs is not null) return tcs.Task;
        var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return (Interlocked.CompareExchange(ref _swapped, created, null) ?? created).Task;
    }

    public ReadyOutcome Ready(HiveReady ready, Uri hiveUrl)
    {
        ReadyOutcome outcome;
        lock (_write)
        {
            outcome = ReadyLocked(ready, hiveUrl);
        }
        if (outcome is not (ReadyOutcome.Conflict or ReadyOutcome.AlreadyKnown)) Published();
        return outcome;
    }

    private ReadyOutcome ReadyLocked(HiveReady ready, Uri hiveUrl)
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

        if (existing is null && _current.Hives.Count >= _options.MaxHives && !EvictOneOffline(now))
        {
            Log.ClusterFull(logger, ready.HiveId, hiveUrl.ToString(), _options.MaxHives);
            return ReadyOutcome.Full;
        }

        if (ready.Protocol != ProtocolConstants.ProtocolVersion)
        {
            var reason = $"hive speaks protocol {ready.Protocol}, the queen speaks {ProtocolConstants.ProtocolVersion}";
            var version = Swap(new HiveEntry
            {
                HiveId = ready.HiveId, HiveUrl = hiveUrl, InstanceId = ready.InstanceId, Version = ready.Version,
                Protocol = ready.Protocol, State = HiveState.Incompatible, Reason = reason, AcceptedAt = now,
            });
            if (existing is not null) Removed(version, existing, now);
            StateChanged(version, ready.HiveId, existing?.State, HiveState.Incompatible, reason, now);
            Log.HiveIncompatible(logger, ready.HiveId, ready.Protocol, ProtocolConstants.ProtocolVersion);
            return ReadyOutcome.Incompatible;
        }

        if (existing is not null && SameUrl(existing.HiveUrl, hiveUrl) && existing.InstanceId == ready.InstanceId
            && existing.State != HiveState.Incompatible)
            return ReadyOutcome.AlreadyKnown;

        var restarted = existing is not null && SameUrl(existing.HiveUrl, hiveUrl) && existing.InstanceId != ready.InstanceId;
        // A restart of a live hive keeps its state and last frame: the workers it re-adopts stay in the view (they never
        // stopped), the first frame of the new instance is diffed against what the stream showed, and liveness runs on
        // from that last frame. Anything else starts over as connecting.
        var keepFrame = restarted && existing!.State is HiveState.Online or HiveState.Degraded;
        var state = keepFrame ? existing!.State : HiveState.Connecting;
        var v = Swap(new HiveEntry
        {
            HiveId = ready.HiveId,
            HiveUrl = hiveUrl,
            InstanceId = ready.InstanceId,
            Version = ready.Version,
            Protocol = ready.Protocol,
            State = state,
            Reason = keepFrame ? existing!.Reason : null,
            AcceptedAt = now,
            LastFrame = keepFrame ? existing!.LastFrame : null,
            LastFrameAt = keepFrame ? existing!.LastFrameAt : null,
            // The old instance's devices and models stand until the new ones are fetched (a restart does not move the
            // hive's files or GPUs): in between, a request for a model only on its disk waits for a worker instead of
            // getting 404. The catalog's instance id tells whose it is, so the new instance's is always fetched.
            Capabilities = keepFrame ? existing!.Capabilities : null,
            Catalog = keepFrame ? existing!.Catalog : null,
        });
        if (existing is not null && !keepFrame) Removed(v, existing, now);
        StateChanged(v, ready.HiveId, existing?.State, state, null, now);
        return restarted ? ReadyOutcome.Restarted : ReadyOutcome.Registered;
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
        Published();
    }

    /// <summary>
    /// Stores a fetched model catalog and publishes <see cref="CatalogChanged"/>. Dropped (false) when it belongs to
    /// another instance or hive than the entry's, or is not newer than the catalog held.
    /// </summary>
    public bool SetCatalog(string hiveId, ModelCatalog catalog)
    {
        lock (_write)
        {
            var e = _current.Find(hiveId);
            if (e is null || e.State == HiveState.Incompatible || catalog.HiveId != hiveId || e.InstanceId != catalog.InstanceId
                || e.CatalogVersion is { } held && held >= catalog.Version)
                return false;
            var v = Swap(e with { Catalog = catalog });
            if (HasSubscribers) _outbox.Enqueue(new CatalogChanged(v, hiveId, catalog, time.GetUtcNow()));
        }
        Published();
        return true;
    }

    /// <summary>
    /// The subscription's stream opened (response headers in). A hive that was offline is connecting again; liveness
    /// counts a connecting hive's first-frame deadline from here.
    /// </summary>
    public void StreamOpened(string hiveId, string instanceId)
    {
        lock (_write)
        {
            var e = _current.Find(hiveId);
            if (e is null || e.InstanceId != instanceId || e.State == HiveState.Incompatible) return;
            var now = time.GetUtcNow();
            if (e.State != HiveState.Offline)
            {
                Swap(e with { StreamOpenedAt = now });
            }
            else
            {
                var v = Swap(e with { State = HiveState.Connecting, Reason = null, StreamOpenedAt = now });
                StateChanged(v, hiveId, e.State, HiveState.Connecting, null, now);
            }
        }
        Published();
    }

    /// <summary>
    /// Applies one frame of a hive's stream; <paramref name="json"/> is the frame as it arrived, passed on to subscribers
    /// untouched. Ignored (false) when it is from another instance than the entry's or not newer than the last applied
    /// <c>seq</c> (DESIGN.md "Discovery and telemetry" 4).
    /// </summary>
    public bool ApplyFrame(TelemetryFrame frame, ReadOnlyMemory<byte> json = default)
    {
        // A frame with holes (a null worker, a worker without its group) is not a frame: it would break every view
        // built from it later, far from here. Refused like one of another instance.
        if (FrameProblem(frame) is not null) return false;
        lock (_write)
        {
            var e = _current.Find(frame.HiveId);
            if (e is null || e.State == HiveState.Incompatible || e.InstanceId != frame.InstanceId || frame.Seq <= e.LastSeq)
                return false;
            var now = time.GetUtcNow();
            var v = Swap(e with
            {
                State = HiveState.Online, Reason = null,
                LastFrame = frame, LastSeq = frame.Seq, LastFrameAt = now,
            });
            if (HasSubscribers) _outbox.Enqueue(new FrameApplied(v, e.HiveId, frame, json, now));
            if (e.State != HiveState.Online)
            {
                StateChanged(v, e.HiveId, e.State, HiveState.Online, null, now);
                Log.HiveOnline(logger, e.HiveId, e.HiveUrl.ToString(), e.State.ToWire());
            }
            DiffWorkers(v, e.HiveId, e.Workers, frame.Workers, now);
        }
        Published();
        return true;
    }

    /// <summary>
    /// Why a frame cannot be used, or null. The serializer fills what the JSON says, nulls included, whatever the record
    /// declares; the fields the view needs are checked here, once, at the border.
    /// </summary>
    public static string? FrameProblem(TelemetryFrame frame)
    {
        if (frame.HiveId is null || frame.InstanceId is null) return "a frame without hive_id or instance_id";
        if (frame.Workers is null) return "a frame without its workers list";
        foreach (var w in frame.Workers)
            if (w?.Group is null || w.Instance is null || w.State is null) return "a worker without group, instance or state";
        if (frame.Node is { } node && (node.Gpus is null || node.Gpus.Any(g => g?.Id is null))) return "node stats without a GPU list, or a GPU without an id";
        return null;
    }

    /// <summary>The hive's stream ended (or could not be opened): offline at once, its workers leave the view.</summary>
    public void StreamClosed(string hiveId, string instanceId, string reason)
    {
        lock (_write)
        {
            var e = _current.Find(hiveId);
            if (e is null || e.InstanceId != instanceId || e.State == HiveState.Incompatible) return;
            if (e.State == HiveState.Offline)
            {
                if (e.StreamOpenedAt is null) return;
                Swap(e with { StreamOpenedAt = null });
            }
            else
            {
                var now = time.GetUtcNow();
                var v = Swap(e with { State = HiveState.Offline, Reason = reason, StreamOpenedAt = null });
                Removed(v, e, now);
                StateChanged(v, hiveId, e.State, HiveState.Offline, reason, now);
                Log.HiveOffline(logger, hiveId, reason);
            }
        }
        Published();
    }

    /// <summary>Applies <see cref="HiveLiveness"/>'s verdict on every hive at the current time (the liveness monitor's tick).</summary>
    public void Tick()
    {
        var now = time.GetUtcNow();
        // Lock-free look first: most ticks change nothing.
        var anyChange = false;
        foreach (var e in Current.Hives.Values)
            if (liveness.Judge(e, now).State != e.State) { anyChange = true; break; }
        if (!anyChange) return;

        List<(string, string)>? silenced = null;
        lock (_write)
        {
            foreach (var e in _current.Hives.Values)
            {
                var (state, reason) = liveness.Judge(e, now);
                if (state == e.State) continue;
                var v = Swap(e with { State = state, Reason = reason });
                if (state == HiveState.Offline)
                {
                    Removed(v, e, now);
                    (silenced ??= []).Add((e.HiveId, e.InstanceId));
                    Log.HiveOffline(logger, e.HiveId, reason!);
                }
                else
                {
                    Log.HiveDegraded(logger, e.HiveId, reason!);
                }
                StateChanged(v, e.HiveId, e.State, state, reason, now);
            }
        }
        Published();
        if (silenced is not null)
            foreach (var (hiveId, instanceId) in silenced) WentSilent?.Invoke(hiveId, instanceId);
    }

    /// <summary>Names the hives that are never forgotten while offline (the SSH config's), replacing the last rule.</summary>
    public void KeepOffline(Func<HiveEntry, bool> kept) => Volatile.Write(ref _kept, kept);

    /// <summary>When a hive was last heard from: its last frame, else when its ready was accepted.</summary>
    private static DateTimeOffset LastHeard(HiveEntry e) => e.LastFrameAt ?? e.AcceptedAt;

    /// <summary>At <see cref="ClusterOptions.MaxHives"/>: makes room by forgetting the hive offline longest (under the write lock).</summary>
    private bool EvictOneOffline(DateTimeOffset now)
    {
        var kept = Volatile.Read(ref _kept);
        var oldest = _current.Hives.Values.Where(e => !e.IsLive && !kept(e)).MinBy(LastHeard);
        if (oldest is null) return false;
        Forget(oldest, now, "the view is full");
        return true;
    }

    /// <summary>Forgets the hives offline longer than <see cref="ClusterOptions.ForgetOfflineAfter"/> that the SSH config does not name.</summary>
    public void ForgetLongOffline()
    {
        var now = time.GetUtcNow();
        var kept = Volatile.Read(ref _kept);
        bool Stale(HiveEntry e) => !e.IsLive && now - LastHeard(e) > _options.ForgetOfflineAfter && !kept(e);
        if (!Current.Hives.Values.Any(Stale)) return;
        lock (_write)
        {
            foreach (var e in _current.Hives.Values.Where(Stale).ToList()) Forget(e, now, $"offline for more than {_options.ForgetOfflineAfter}");
        }
        Published();
    }

    private void Forget(HiveEntry e, DateTimeOffset now, string why)
    {
        var current = _current;
        Volatile.Write(ref _current, new ClusterSnapshot(current.Version + 1, current.Hives.Remove(e.HiveId)));
        Log.HiveForgotten(logger, e.HiveId, e.HiveUrl.ToString(), LastHeard(e), why);
    }

    /// <summary>The workers of <paramref name="e"/> leave the view (it went offline or was replaced).</summary>
    private void Removed(long version, HiveEntry e, DateTimeOffset now) => DiffWorkers(version, e.HiveId, e.Workers, [], now);

    private void DiffWorkers(long version, string hiveId, IReadOnlyList<ProcessStats> before, IReadOnlyList<ProcessStats> after, DateTimeOffset now)
    {
        // Most frames repeat the last one's workers in the same order: no changes and, on this per-frame path, no dictionary.
        if (!HasSubscribers || Unchanged(before, after)) return;
        var old = new Dictionary<(string, string), ProcessStats>(before.Count);
        foreach (var w in before) old[(w.Group, w.Instance)] = w;
        foreach (var w in after)
        {
            if (!old.Remove((w.Group, w.Instance), out var was))
                _outbox.Enqueue(new WorkerAdded(version, hiveId, w, now));
            else if (was.State != w.State || was.Pid != w.Pid)
                _outbox.Enqueue(new WorkerStateChange(version, hiveId, w, was.State, w.State, now));
        }
        foreach (var w in old.Values)
            _outbox.Enqueue(new WorkerRemoved(version, hiveId, w, now));
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

    private void StateChanged(long version, string hiveId, HiveState? oldState, HiveState newState, string? reason, DateTimeOffset now)
    {
        if (oldState != newState && HasSubscribers) _outbox.Enqueue(new HiveStateChange(version, hiveId, oldState, newState, reason, now));
    }

    /// <summary>Swaps in a snapshot with <paramref name="entry"/>; under the write lock. Returns the new version.</summary>
    private long Swap(HiveEntry entry)
    {
        var current = _current;
        var next = new ClusterSnapshot(current.Version + 1, current.Hives.SetItem(entry.HiveId, entry));
        Volatile.Write(ref _current, next);
        return next.Version;
    }

    /// <summary>
    /// After a write, outside the write lock: hands the queued changes to every subscriber in the order they were made
    /// (whoever publishes first drains what every writer queued so far), then wakes the <see cref="WaitForAsync"/> waiters.
    /// A subscriber's queue never blocks, so a slow reader cannot hold this up.
    /// </summary>
    private void Published()
    {
        if (!_outbox.IsEmpty)
        {
            lock (_publish)
            {
                // The list is read per change: a subscriber added while this loop runs must get the changes queued after it.
                while (_outbox.TryDequeue(out var change))
                    foreach (var s in Volatile.Read(ref _subscribers)) s.Offer(change);
            }
        }
        Interlocked.Exchange(ref _swapped, null)?.TrySetResult();
    }

    private static bool SameUrl(Uri a, Uri b) => Uri.Compare(a, b, UriComponents.SchemeAndServer | UriComponents.Path,
        UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;

    private static partial class Log
    {
        [LoggerMessage(EventId = QueenEventIds.ClusterFull, Level = LogLevel.Warning, Message = "ready of hive {HiveId} at {HiveUrl} refused: the view holds {MaxHives} hives, all live (Cluster:MaxHives)")]
        public static partial void ClusterFull(ILogger logger, string hiveId, string hiveUrl, int maxHives);

        [LoggerMessage(EventId = QueenEventIds.HiveForgotten, Level = LogLevel.Information, Message = "forgot hive {HiveId} at {HiveUrl}, last heard {LastHeard:o}: {Why}")]
        public static partial void HiveForgotten(ILogger logger, string hiveId, string hiveUrl, DateTimeOffset lastHeard, string why);

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
