using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Rbee.Queen.Audit;

namespace Rbee.Queen.Scheduling;

/// <summary>What a waiting request is told while it waits (a streamed request turns these into SSE comments).</summary>
public interface IWaitObserver
{
    /// <summary>Its place in the model's queue changed (1 = next).</summary>
    void Queued(int position);

    /// <summary>A worker for the model is being started on that hive and device.</summary>
    void SpawnStarted(string hiveId, string device);

    /// <summary>The hive started that worker's process on <paramref name="port"/>; it is loading the model now.</summary>
    void WorkerSpawned(string hiveId, int port);

    /// <summary>A line of the hive's narration of that start (loading, port, ready).</summary>
    void SpawnProgress(string hiveId, string text);
}

/// <summary>Starts a worker for a model that has none (a cold start); the scheduler calls it once per model at a time.</summary>
public interface IColdStarter
{
    /// <summary>
    /// Places and starts a worker for <paramref name="model"/> and returns once it is ready in the cluster view; throws
    /// <see cref="SchedulingException"/> when nowhere fits or every try failed. <paramref name="requester"/> is who sent the
    /// request that needs the worker (the first of those waiting), for the audit log.
    /// </summary>
    Task StartAsync(ModelPresence model, Actor requester, IWaitObserver progress, CancellationToken ct);
}

/// <summary>A worker given to one request; release it exactly once with the outcome.</summary>
public sealed class WorkerLease
{
    private readonly Scheduler _owner;
    private int _released;

    internal WorkerLease(Scheduler owner, string model, ServingWorker worker)
    {
        _owner = owner;
        Model = model;
        Worker = worker;
    }

    public string Model { get; }
    public ServingWorker Worker { get; }
    public WorkerKey Key => Worker.Key;
    public string Url => Worker.Url;
    public string HiveId => Worker.Hive.HiveId;

    public void Release(RequestOutcome outcome, string? reason = null)
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) _owner.Release(this, outcome, reason);
    }
}

/// <summary>
/// Admission and placement of inference requests (DESIGN.md "Scheduling and routing"). A request for a model takes a
/// ready worker with room at once when nobody waits before it; otherwise it joins the model's bounded FIFO queue
/// (<see cref="SchedulingOptions.MaxQueued"/>, full → 429) and is handed a worker as soon as one has room, a worker
/// becomes ready, or a hive comes back (<see cref="Pump"/>); after <see cref="SchedulingOptions.MaxWait"/> it gets 503.
/// A model with no worker at all gets one cold start, however many requests wait for it. Both refusals carry a
/// <c>Retry-After</c> from the model's measured completion rate.
/// </summary>
public sealed partial class Scheduler
{
    private readonly ModelIndex _index;
    private readonly WorkerLoads _loads;
    private readonly ILoadBalancingPolicy _policy;
    private readonly IColdStarter _coldStarter;
    private readonly SchedulingOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, ModelQueue> _queues = new(StringComparer.Ordinal);
    private readonly CancellationToken _stopping;
    private readonly IDiscoveryWindow? _discovery;

    /// <param name="stopping">Ends cold starts when the queen stops.</param>
    /// <param name="discovery">While it is open, a request for a model no hive has yet waits for the view to change
    /// (within its own wait) before it is told the model does not exist.</param>
    public Scheduler(ModelIndex index, WorkerLoads loads, ILoadBalancingPolicy policy, IColdStarter coldStarter,
        SchedulingOptions options, TimeProvider time, ILogger<Scheduler> logger, CancellationToken stopping = default,
        IDiscoveryWindow? discovery = null)
    {
        _stopping = stopping;
        _discovery = discovery;
        _index = index;
        _loads = loads;
        _policy = policy;
        _coldStarter = coldStarter;
        _options = options;
        _time = time;
        _logger = logger;
        // A worker back from ejection (its health probe answered) can take waiting requests at once, not at the next frame.
        _loads.Reopened += _ => PumpAll();
    }

    public ModelIndex Index => _index;

    /// <summary>Requests waiting for <paramref name="model"/> now.</summary>
    public int QueueLength(string model) => _queues.TryGetValue(model, out var q) ? q.Count : 0;

    /// <summary>Requests waiting for any model now (read without the queues' locks: a gauge, not a decision).</summary>
    public int QueuedTotal => _queues.Values.Sum(q => q.Count);

    /// <summary>
    /// A worker for <paramref name="model"/>, now or after waiting. <paramref name="retry"/> puts the request at the front
    /// of the queue: it already waited its turn once and lost its worker to a failure.
    /// </summary>
    /// <param name="maxWait">How long this request may still wait (<see cref="SchedulingOptions.MaxWait"/> less what it waited before a retry).</param>
    /// <param name="avoid">Workers this request already failed on: another one is taken when one has room.</param>
    /// <param name="requester">Who sent the request; a cold start it causes is audited as theirs.</param>
    public async Task<WorkerLease> AcquireAsync(string model, IWaitObserver? observer, bool retry, TimeSpan maxWait, CancellationToken ct,
        IReadOnlySet<WorkerKey>? avoid = null, Actor? requester = null)
    {
        // A queue exists only for a model the cluster has: a stream of made-up names must not grow this table. It is keyed
        // by the model's own id, whichever name (tiny, tiny:latest, an alias) the request used; the lease carries that id.
        var known = _index.Current.Resolve(model);
        if (known is null && _discovery is not null)
        {
            // A queen that has just started may not have heard from the hive that has the model: wait, not 404.
            var started = _time.GetUtcNow();
            while (known is null && _discovery.Remaining is var left && left > TimeSpan.Zero)
            {
                var budget = maxWait - (_time.GetUtcNow() - started);
                if (budget <= TimeSpan.Zero) break;
                await _discovery.WaitForChangeAsync(left < budget ? left : budget, ct).ConfigureAwait(false);
                known = _index.Current.Resolve(model);
            }
            maxWait -= _time.GetUtcNow() - started;
        }
        if (known is not null) model = known.Id;
        if (known is not { Routable: true })
        {
            // No Retry-After: when a degraded hive comes back is not something the queen can measure.
            if (known is { UnhealthyHives.Count: > 0 })
                throw SchedulingException.Unavailable("model_unavailable",
                    $"The model '{model}' is only on hive(s) {string.Join(", ", known.UnhealthyHives)}, which are not online now; retry when they are");
            throw SchedulingException.ModelNotFound(model);
        }
        var queue = _queues.GetOrAdd(model, static (m, time) => new ModelQueue(m, time), _time);
        Waiter waiter;
        int position;
        lock (queue.Gate)
        {
            var presence = _index.Current.Find(model);
            if ((queue.Count == 0 || retry) && TryTake(model, presence, avoid) is { } lease) return lease;
            if (presence is not { Routable: true }) throw SchedulingException.ModelNotFound(model);
            if (!retry && queue.Count >= _options.MaxQueued)
            {
                var oldest = queue.OldestWait(_time.GetUtcNow());
                var after = queue.Rate.RetryAfterSeconds(queue.Count + 1, oldest, _options.MaxWait);
                Log.QueueFull(_logger, model, queue.Count);
                throw SchedulingException.QueueFull(
                    $"{queue.Count} requests already wait for model '{model}' (Scheduling:MaxQueued {_options.MaxQueued}); retry in {after} s", after);
            }
            waiter = new Waiter(observer, _time.GetUtcNow(), avoid, requester ?? Actor.Unknown);
            if (retry) queue.Waiters.AddFirst(waiter.Node); else queue.Waiters.AddLast(waiter.Node);
            position = queue.PositionOf(waiter);
            if (presence.Ready.Count == 0 && presence.Starting.Count == 0 && queue.ColdStart is null)
                queue.ColdStart = ColdStartAsync(queue, presence, waiter.Requester);
            else if (queue.SpawningOn is var (hive, device))
            {
                // A request that joins a start in flight is told how far it got, so its timeline has the same phases.
                observer?.SpawnStarted(hive, device);
                if (queue.SpawnedPort is { } port) observer?.WorkerSpawned(hive, port);
            }
        }
        observer?.Queued(position);
        return await WaitAsync(queue, waiter, maxWait, ct).ConfigureAwait(false);
    }

    private async Task<WorkerLease> WaitAsync(ModelQueue queue, Waiter waiter, TimeSpan maxWait, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var deadline = Task.Delay(maxWait > TimeSpan.Zero ? maxWait : TimeSpan.Zero, _time, stop.Token);
        try
        {
            if (await Task.WhenAny(waiter.Result.Task, deadline).ConfigureAwait(false) == waiter.Result.Task && !ct.IsCancellationRequested)
                return await waiter.Result.Task.ConfigureAwait(false);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
        }

        // The deadline or the caller ended the wait; a worker handed over in that same instant still wins.
        int position;
        lock (queue.Gate)
        {
            position = queue.PositionOf(waiter);
            if (waiter.Result.Task.IsCompletedSuccessfully)
            {
                var handed = waiter.Result.Task.Result;
                if (!ct.IsCancellationRequested) return handed;
                // Handed over in the instant the caller left: nobody will use it.
                handed.Release(RequestOutcome.Cancelled);
                ct.ThrowIfCancellationRequested();
            }
            if (waiter.Result.Task.IsCompleted) return waiter.Result.Task.GetAwaiter().GetResult();
            waiter.Result.TrySetCanceled(CancellationToken.None);
            if (waiter.Node.List is not null) queue.Waiters.Remove(waiter.Node);
            queue.NotifyPositions();
        }
        ct.ThrowIfCancellationRequested();
        var after = queue.Rate.RetryAfterSeconds(position, _options.MaxWait, _options.MaxWait);
        Log.WaitedTooLong(_logger, queue.Model, _options.MaxWait, position);
        throw SchedulingException.Unavailable("wait_timeout",
            $"no worker for model '{queue.Model}' became free within {_options.MaxWait.TotalSeconds:0.#} s (Scheduling:MaxWait); queue position {position}; retry in {after} s",
            after);
    }

    /// <summary>Hands workers with room to the waiting requests of <paramref name="model"/>, first come first served.</summary>
    public void Pump(string model)
    {
        if (!_queues.TryGetValue(model, out var queue)) return;
        lock (queue.Gate)
        {
            if (queue.Count == 0) return;
            var presence = _index.Current.Find(model);
            // Requests wait, but no worker serves or is loading the model any more (it crashed, or was stopped as idle):
            // start one, as the first of them did, instead of leaving them to time out.
            // Who waits longest asked first: the start is theirs in the audit log.
            if (presence is { Ready.Count: 0, Starting.Count: 0, OnDisk.Count: > 0 } && queue.ColdStart is null)
                queue.ColdStart = ColdStartAsync(queue, presence, queue.Waiters.First!.Value.Requester);
            var moved = false;
            while (queue.Waiters.First is { } head)
            {
                var waiter = head.Value;
                if (waiter.Result.Task.IsCompleted)
                {
                    queue.Waiters.RemoveFirst();
                    continue;
                }
                if (TryTake(model, presence, waiter.Avoid) is not { } lease) break;
                queue.Waiters.RemoveFirst();
                moved = true;
                if (!waiter.Result.TrySetResult(lease)) lease.Release(RequestOutcome.Cancelled);
            }
            if (moved) queue.NotifyPositions();
        }
    }

    /// <summary>Pumps every model that has waiting requests (the cluster view changed, an ejection ended).</summary>
    public void PumpAll()
    {
        foreach (var (model, queue) in _queues)
            if (queue.Count > 0) Pump(model);
    }

    internal void Release(WorkerLease lease, RequestOutcome outcome, string? reason)
    {
        if (outcome == RequestOutcome.Success && _queues.TryGetValue(lease.Model, out var q)) q.Rate.Completed();
        _loads.Release(lease.Key, outcome, reason);
        Pump(lease.Model);
    }

    private WorkerLease? TryTake(string model, ModelPresence? presence, IReadOnlySet<WorkerKey>? avoid)
    {
        if (presence is null || presence.Ready.Count == 0) return null;
        var candidates = new List<WorkerCandidate>(presence.Ready.Count);
        foreach (var w in presence.Ready)
            if (_loads.HasRoom(w.Key, w.Url))
                candidates.Add(new WorkerCandidate(w.Key, w.Url, w.Worker.Device, _loads.InFlight(w.Key), w.FreeMemoryBytes));
        // A retry goes to another worker when one has room: the one that just failed (a SIGKILLed worker refuses
        // connections until its hive reports it gone) would burn every retry in a millisecond. With nothing else, it may
        // try the same worker again (a passing 5xx).
        if (avoid is { Count: > 0 } && candidates.Any(c => !avoid.Contains(c.Key))) candidates.RemoveAll(c => avoid.Contains(c.Key));
        // The pick and the count are two steps; a worker that lost its room in between (retired, ejected) is dropped
        // from the list and the policy picks again.
        while (_policy.Pick(candidates) is { } pick)
        {
            var worker = presence.Ready.First(w => w.Key == pick.Key);
            if (_loads.TryAcquire(worker.Key, worker.Url)) return new WorkerLease(this, model, worker);
            candidates.Remove(pick);
        }
        return null;
    }

    private async Task ColdStartAsync(ModelQueue queue, ModelPresence presence, Actor requester)
    {
        await Task.Yield(); // never run the start under the queue's lock
        var fanOut = new QueueObserver(queue);
        try
        {
            await _coldStarter.StartAsync(presence, requester, fanOut, _stopping).ConfigureAwait(false);
        }
        catch (SchedulingException e)
        {
            FailWaiters(queue, e);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Log.ColdStartFailed(_logger, queue.Model, e);
            FailWaiters(queue, SchedulingException.Unavailable("spawn_failed", $"could not start a worker for model '{queue.Model}': {e.Message}"));
        }
        finally
        {
            lock (queue.Gate)
            {
                queue.ColdStart = null;
                queue.SpawningOn = null;
                queue.SpawnedPort = null;
            }
            // The new worker may have reached the view before this start was marked finished.
            Pump(queue.Model);
        }
    }

    private static void FailWaiters(ModelQueue queue, SchedulingException e)
    {
        lock (queue.Gate)
        {
            foreach (var w in queue.Waiters) w.Result.TrySetException(e);
            queue.Waiters.Clear();
        }
    }

    /// <summary>Tells every request waiting for the model what its cold start is doing.</summary>
    private sealed class QueueObserver(ModelQueue queue) : IWaitObserver
    {
        public void Queued(int position)
        {
        }

        public void SpawnStarted(string hiveId, string device)
        {
            List<IWaitObserver> observers;
            lock (queue.Gate)
            {
                queue.SpawningOn = (hiveId, device);
                queue.SpawnedPort = null;
                observers = queue.Observers();
            }
            foreach (var o in observers) o.SpawnStarted(hiveId, device);
        }

        public void WorkerSpawned(string hiveId, int port)
        {
            List<IWaitObserver> observers;
            lock (queue.Gate)
            {
                queue.SpawnedPort = port;
                observers = queue.Observers();
            }
            foreach (var o in observers) o.WorkerSpawned(hiveId, port);
        }

        public void SpawnProgress(string hiveId, string text)
        {
            List<IWaitObserver> observers;
            lock (queue.Gate) observers = queue.Observers();
            foreach (var o in observers) o.SpawnProgress(hiveId, text);
        }

    }

    private sealed class Waiter
    {
        public Waiter(IWaitObserver? observer, DateTimeOffset enqueuedAt, IReadOnlySet<WorkerKey>? avoid, Actor requester)
        {
            Requester = requester;
            Observer = observer;
            EnqueuedAt = enqueuedAt;
            Avoid = avoid;
            Node = new LinkedListNode<Waiter>(this);
        }

        public IWaitObserver? Observer { get; }
        public IReadOnlySet<WorkerKey>? Avoid { get; }
        public Actor Requester { get; }
        public DateTimeOffset EnqueuedAt { get; }
        public LinkedListNode<Waiter> Node { get; }
        public TaskCompletionSource<WorkerLease> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int LastPosition { get; set; }
    }

    /// <summary>One model's waiting requests, its cold start and its completion rate. Guarded by <see cref="Gate"/>.</summary>
    private sealed class ModelQueue(string model, TimeProvider time)
    {
        public string Model { get; } = model;
        public Lock Gate { get; } = new();
        public LinkedList<Waiter> Waiters { get; } = new();
        public Task? ColdStart { get; set; }
        public (string HiveId, string Device)? SpawningOn { get; set; }

        /// <summary>The port of the cold start's worker once the hive has started its process (it is loading).</summary>
        public int? SpawnedPort { get; set; }
        public CompletionRate Rate { get; } = new(time);

        public int Count => Waiters.Count;

        public int PositionOf(Waiter waiter)
        {
            var i = 1;
            for (var n = Waiters.First; n is not null; n = n.Next, i++)
                if (ReferenceEquals(n.Value, waiter)) return i;
            return 0;
        }

        public TimeSpan OldestWait(DateTimeOffset now) => Waiters.First is { } head ? now - head.Value.EnqueuedAt : TimeSpan.Zero;

        public List<IWaitObserver> Observers()
        {
            var list = new List<IWaitObserver>(Waiters.Count);
            foreach (var w in Waiters) if (w.Observer is not null) list.Add(w.Observer);
            return list;
        }

        /// <summary>Tells each waiter whose place changed its new place (called under <see cref="Gate"/>).</summary>
        public void NotifyPositions()
        {
            var i = 1;
            foreach (var w in Waiters)
            {
                if (w.LastPosition != i)
                {
                    w.LastPosition = i;
                    w.Observer?.Queued(i);
                }
                i++;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = QueenEventIds.QueueFull, Level = LogLevel.Warning, Message = "Queue for model {Model} is full ({Count} waiting); request refused with 429")]
        public static partial void QueueFull(ILogger logger, string model, int count);

        [LoggerMessage(EventId = QueenEventIds.WaitedTooLong, Level = LogLevel.Warning, Message = "A request for model {Model} waited {MaxWait} at queue position {Position} without a worker; answered 503")]
        public static partial void WaitedTooLong(ILogger logger, string model, TimeSpan maxWait, int position);

        [LoggerMessage(EventId = QueenEventIds.ColdStartFailed, Level = LogLevel.Error, Message = "Cold start of model {Model} failed")]
        public static partial void ColdStartFailed(ILogger logger, string model, Exception error);
    }
}
