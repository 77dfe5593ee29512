using Rbee.Worker.Sampling;

namespace Rbee.Worker.Serving;

/// <summary>One sequence the worker can run: its own KV cache, sampler and the tokens the cache holds.</summary>
public sealed class Slot(int id, IModelSession session, Sampler sampler, int contextSize) : IDisposable
{
    public int Id { get; } = id;
    public int ContextSize { get; } = contextSize;

    public IModelSession Session { get; } = session;
    public Sampler Sampler { get; } = sampler;

    public void Dispose() => Session.Dispose();
}

/// <summary>The queue is full: the request gets 503 with Retry-After.</summary>
public sealed class QueueFullException() : Exception("all slots are busy and the wait queue is full");

/// <summary>
/// <c>--parallel N</c> slots with a bounded FIFO of requests waiting for one (issue 5 "Slots"). A free slot is
/// chosen by the longest cached prefix of the new prompt, so a follow-up turn of a chat lands on the slot that
/// already holds its history.
/// </summary>
public sealed class SlotPool : IDisposable
{
    private readonly object _gate = new();
    private readonly List<Slot> _free;
    private readonly LinkedList<TaskCompletionSource<Slot>> _waiters = new();
    private readonly int _queueCapacity;
    private readonly Slot[] _all;

    public SlotPool(IEnumerable<Slot> slots, int queueCapacity)
    {
        _all = slots.ToArray();
        if (_all.Length == 0) throw new ArgumentException("at least one slot", nameof(slots));
        _free = [.. _all];
        _queueCapacity = queueCapacity;
    }

    public int Total => _all.Length;

    public int Busy { get { lock (_gate) return _all.Length - _free.Count; } }

    public int QueueDepth { get { lock (_gate) return _waiters.Count; } }

    /// <summary>Raised (outside the lock) whenever busy slots or queue depth change, for the metrics.</summary>
    public event Action? Changed;

    /// <summary>Takes a slot, waiting in the queue when all are busy. Throws <see cref="QueueFullException"/>
    /// when the queue is full and <see cref="OperationCanceledException"/> when the caller gives up.</summary>
    public async Task<SlotLease> AcquireAsync(ReadOnlyMemory<int> prompt, CancellationToken ct)
    {
        TaskCompletionSource<Slot> tcs = null!;
        LinkedListNode<TaskCompletionSource<Slot>> node = null!;
        SlotLease? lease = null;
        lock (_gate)
        {
            if (_free.Count > 0)
            {
                var best = BestFor(prompt.Span);
                _free.Remove(best);
                lease = new SlotLease(this, best);
            }
            else
            {
                if (_waiters.Count >= _queueCapacity) throw new QueueFullException();
                tcs = new TaskCompletionSource<Slot>(TaskCreationOptions.RunContinuationsAsynchronously);
                node = _waiters.AddLast(tcs);
            }
        }
        Changed?.Invoke();
        if (lease is not null) return lease;
        await using (ct.Register(() =>
        {
            bool removed;
            lock (_gate)
            {
                removed = node.List is not null;
                if (removed) _waiters.Remove(node);
            }
            if (removed)
            {
                tcs.TrySetCanceled(ct);
                Changed?.Invoke();
            }
        }))
        {
            var slot = await tcs.Task.ConfigureAwait(false);
            return new SlotLease(this, slot);
        }
    }

    internal void Release(Slot slot)
    {
        TaskCompletionSource<Slot>? next = null;
        lock (_gate)
        {
            if (_waiters.First is { } first)
            {
                _waiters.RemoveFirst();
                next = first.Value;
            }
            else
            {
                _free.Add(slot);
            }
        }
        // The waiter's node is already out of the list, so its cancellation cannot race this hand-over.
        next?.SetResult(slot);
        Changed?.Invoke();
    }

    private Slot BestFor(ReadOnlySpan<int> prompt)
    {
        var best = _free[0];
        var bestLen = -1;
        foreach (var s in _free)
        {
            var len = s.Session.Tokens.CommonPrefixLength(prompt);
            if (len > bestLen) { best = s; bestLen = len; }
        }
        return best;
    }

    public void Dispose()
    {
        foreach (var s in _all) s.Dispose();
    }
}

/// <summary>A slot held by one request; disposing hands it to the next waiter or back to the pool.</summary>
public sealed class SlotLease(SlotPool pool, Slot slot) : IDisposable
{
    private int _released;
    public Slot Slot { get; } = slot;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) pool.Release(Slot);
    }
}
