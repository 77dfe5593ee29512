using System.Collections.Concurrent;
using Stopwatch = System.Diagnostics.Stopwatch;

namespace Rbee.Worker.Serving;

/// <summary>
/// The worker's inference loop: one dedicated thread (not thread-pool work) owns the model, drives the compute pool
/// and steps every slot's <see cref="Generation"/>. HTTP handlers only enqueue a request (<see cref="Submit"/>) and
/// await its text from a channel. Each step (continuous batching, as llama.cpp's server and vLLM do):
/// <list type="number">
/// <item>takes in the requests submitted since the last step and drops those whose client has gone;</item>
/// <item>evaluates the next chunk of pending prompts, oldest first, while their chunks fit in
/// <see cref="Generation.PromptBatch"/> tokens (the oldest always goes): the chunks the engine can take together
/// (<see cref="IServedModel.PrefillsTogether"/>) in one forward pass, so prompts that arrive together read the weights
/// once, the others in one pass each. A long prompt delays the others' next token by one chunk, not by its whole
/// length, and short prompts that arrive together (as chat turns do) all start decoding at the same step, so their
/// streams run in one batch to the end instead of joining and leaving it one by one;</item>
/// <item>decodes one token for every generating slot in one forward pass (<see cref="IServedModel.DecodeBatch"/>), so
/// N streams read the weights once per step, not N times.</item>
/// </list>
/// When the loop wakes from idle it first admits what arrives within <see cref="BatchWindow"/>, and waits for requests
/// already on their way to it (<see cref="Announce"/>: being read, tokenized, queued; at most <see cref="GatherLimit"/>),
/// so that a burst of requests shares its first prefill pass instead of the first going alone.
/// A generation that ends or is cancelled leaves at the step where that is seen, without disturbing the others; its
/// result is set only after the loop has let go of its slot. The batched pass is batch-invariant, so a request's
/// output does not depend on who else is served. A step allocates nothing once its buffers exist.
/// </summary>
public sealed class InferenceLoop : IDisposable
{
    private readonly IServedModel _model;
    private readonly WorkerMetrics? _metrics;
    private readonly ConcurrentQueue<Generation> _incoming = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly List<Generation> _active = [];
    private readonly Thread _thread;
    private volatile bool _stopping;
    private int _arriving;

    // Step buffers, grown when more generations are active than ever before.
    private IModelSession[] _sessions = [];
    private int[] _tokens = [], _lengths = [];
    private readonly int[] _prompt = new int[Generation.PromptBatch];
    private Generation[] _decoding = [];
    private float[] _logits = [];

    /// <summary>Starts the loop's thread unless <paramref name="start"/> is false (tests then enqueue requests before
    /// the first step and call <see cref="Start"/>, so those requests are certain to share it).
    /// <paramref name="gatherLimit"/> bounds the wait for announced requests (default <see cref="DefaultGatherLimit"/>).</summary>
    public InferenceLoop(IServedModel model, WorkerMetrics? metrics = null, bool start = true, TimeSpan? gatherLimit = null,
        TimeSpan batchWindow = default)
    {
        _model = model;
        _metrics = metrics;
        GatherLimit = gatherLimit ?? DefaultGatherLimit;
        BatchWindow = batchWindow;
        _thread = new Thread(Run) { IsBackground = true, Name = "rbee-inference" };
        if (start) Start();
    }

    public void Start() => _thread.Start();

    /// <summary>
    /// Longest the loop, woken from idle, waits for announced requests before its first step: what a request costs
    /// between its body being read and its being queued (validation, chat template, tokenizing) is well under it,
    /// and a request announced and then lost (a failure before <see cref="Submit"/>) delays the others by no more.
    /// </summary>
    public static readonly TimeSpan DefaultGatherLimit = TimeSpan.FromMilliseconds(5);

    /// <summary>The bound on waiting for announced requests (<see cref="Announce"/>).</summary>
    public TimeSpan GatherLimit { get; }

    /// <summary>
    /// How long the loop, woken from idle, admits whatever else arrives before its first step, announced or not
    /// (<c>--batch-window-ms</c>): clients of a burst are never quite simultaneous, and one that sends a moment after
    /// the first would otherwise wait for the first's whole prefill pass before its own. Zero: only announced requests
    /// are waited for.
    /// </summary>
    public TimeSpan BatchWindow { get; }

    /// <summary>
    /// Tells the loop a request is on its way (its body read, not yet queued): a loop waking from idle waits for it
    /// (at most <see cref="GatherLimit"/>), so requests that arrive together share their first forward pass. Pass the
    /// result to <see cref="RunAsync"/>, or dispose it if the request fails before, so the loop waits no longer.
    /// </summary>
    public Arrival Announce()
    {
        Interlocked.Increment(ref _arriving);
        return new Arrival(this);
    }

    /// <summary>A request announced to the loop (<see cref="Announce"/>), until it is queued or given up.</summary>
    public sealed class Arrival : IDisposable
    {
        private InferenceLoop? _loop;

        internal Arrival(InferenceLoop loop) => _loop = loop;

        /// <summary>The request is queued or will not be: the loop stops counting it (once, however often called).</summary>
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _loop, null) is not { } loop) return;
            Interlocked.Decrement(ref loop._arriving);
            loop._wake.Set();
        }
    }

    /// <summary>
    /// Queues <paramref name="request"/> on <paramref name="slot"/> (held by the caller until the result is set).
    /// <paramref name="streaming"/> makes text available on <see cref="Generation.Text"/> as it is generated;
    /// <paramref name="ct"/> cancelled drops the generation at the next step.
    /// </summary>
    public Generation Submit(Slot slot, GenerationRequest request, bool streaming, CancellationToken ct, Arrival? arrival = null)
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        var g = new Generation(_model, slot, request, streaming, ct);
        _incoming.Enqueue(g);
        arrival?.Dispose(); // after queueing: the loop sees the request in the queue or still counted, never neither
        _wake.Set();
        // A loop that has ended (disposed or faulted) takes nothing more: what raced past the check above is cancelled.
        if (_stopping && !_thread.IsAlive)
            while (_incoming.TryDequeue(out var late)) late.Cancelled();
        return g;
    }

    /// <summary>
    /// Runs a request to its end: text safe to send goes to <paramref name="onText"/> as it appears. Returns (or throws)
    /// only once the loop has let go of <paramref name="slot"/>, so the caller may hand it on.
    /// </summary>
    public async Task<GenerationResult> RunAsync(Slot slot, GenerationRequest request,
        Func<string, CancellationToken, ValueTask>? onText, CancellationToken ct, Arrival? arrival = null)
    {
        var g = Submit(slot, request, onText is not null, ct, arrival);
        try
        {
            if (g.Text is { } text)
                while (await text.WaitToReadAsync(ct).ConfigureAwait(false))
                    while (text.TryRead(out var piece))
                    {
                        ct.ThrowIfCancellationRequested();
                        await onText!(piece, ct).ConfigureAwait(false);
                    }
            return await g.Result.ConfigureAwait(false);
        }
        catch
        {
            g.Cancel(); // the client is gone or could not be written to: its slot frees at the next step
            try
            {
                await g.Result.ConfigureAwait(false);
            }
            catch
            {
                // Already failing; the first exception is the one to report.
            }
            throw;
        }
    }

    private void Run()
    {
        try
        {
            while (!_stopping)
            {
                _wake.Reset();
                var idle = _active.Count == 0;
                Admit();
                if (_active.Count == 0)
                {
                    if (_incoming.IsEmpty && !_stopping) _wake.Wait();
                    continue;
                }
                if (idle) Gather();
                Step();
            }
        }
        catch (Exception ex)
        {
            // A fault of the loop itself (steps catch the engine's): no request may wait forever on a dead thread.
            _stopping = true;
            foreach (var g in _active) g?.Fail(ex);
            _active.Clear();
            while (_incoming.TryDequeue(out var g)) g.Fail(ex);
            return;
        }
        // Stopping: whatever is left is cancelled, so no caller waits forever.
        Admit();
        foreach (var g in _active) g.Cancelled();
        _active.Clear();
    }

    /// <summary>Admits what arrives within <see cref="BatchWindow"/> of the loop waking, and the requests announced by
    /// then as they are queued, until none is on its way or <see cref="GatherLimit"/> has passed.</summary>
    private void Gather()
    {
        var start = Stopwatch.GetTimestamp();
        long Ticks(TimeSpan t) => start + (long)(t.TotalSeconds * Stopwatch.Frequency);
        long window = Ticks(BatchWindow), limit = Ticks(GatherLimit);
        while (!_stopping)
        {
            var now = Stopwatch.GetTimestamp();
            var announced = Volatile.Read(ref _arriving) > 0;
            var until = announced ? Math.Max(window, limit) : window;
            if (now >= until) return;
            _wake.Reset();
            if (_incoming.IsEmpty) _wake.Wait(TimeSpan.FromSeconds((double)(until - now) / Stopwatch.Frequency));
            Admit();
        }
    }

    private void Admit()
    {
        while (_incoming.TryDequeue(out var g))
        {
            if (g.CancelRequested || _stopping)
            {
                g.Cancelled();
                continue;
            }
            try
            {
                g.Begin();
                _active.Add(g);
            }
            catch (Exception ex)
            {
                g.Fail(ex);
            }
        }
    }

    private void Step()
    {
        // 1. Generations whose client has gone leave first.
        for (var i = 0; i < _active.Count; i++)
            if (_active[i].CancelRequested)
            {
                _active[i].Cancelled();
                _active[i] = null!;
            }
        Compact();

        // 2. Pending prompts' next chunks, oldest first, while they fit in one chunk's worth of tokens (the oldest always
        // goes): those the engine can take together share one forward pass, the others get one each.
        Grow(_active.Count);
        var budget = Generation.PromptBatch;
        int together = 0, togetherTokens = 0, room = _model.PrefillBatchTokens;
        for (var i = 0; i < _active.Count && budget > 0; i++)
        {
            var g = _active[i];
            if (!g.Prefilling) continue;
            var chunk = g.NextChunk;
            if (chunk > budget && budget < Generation.PromptBatch) continue;
            budget -= chunk;
            if (togetherTokens + chunk <= room && _model.PrefillsTogether(chunk))
            {
                g.NextChunkTokens.CopyTo(_prompt.AsSpan(togetherTokens));
                _lengths[together] = chunk;
                _sessions[together] = g.Session;
                _decoding[together++] = g;
                togetherTokens += chunk;
                continue;
            }
            _metrics?.BatchSequences(1);
            try
            {
                if (!g.PrefillChunk()) _active[i] = null!;
            }
            catch (Exception ex)
            {
                g.Fail(ex);
                _active[i] = null!;
            }
        }
        if (together == 1)
        {
            _metrics?.BatchSequences(1);
            var g = _decoding[0];
            try
            {
                if (!g.PrefillChunk()) Remove(g);
            }
            catch (Exception ex)
            {
                g.Fail(ex);
                Remove(g);
            }
        }
        else if (together > 1)
            RunPass(together, prefill: true);
        Array.Clear(_decoding, 0, together);
        Array.Clear(_sessions, 0, together);
        Compact();

        // 3. One token for every generating slot, in one forward pass.
        var n = 0;
        foreach (var g in _active)
        {
            if (g.Prefilling) continue;
            _decoding[n] = g;
            _sessions[n] = g.Session;
            _tokens[n] = g.NextToken;
            n++;
        }
        if (n == 0) return;
        RunPass(n, prefill: false);
        Compact();
    }

    /// <summary>
    /// Runs one forward pass for the first <paramref name="n"/> of _decoding (their sessions in _sessions): the next
    /// prompt chunk of each (<see cref="IServedModel.PrefillBatch"/>, chunks in _prompt and _lengths) or one decode token
    /// of each (<see cref="IServedModel.DecodeBatch"/>, tokens in _tokens); then hands each its logits. Generations that
    /// end are removed; a pass that fails fails all of its generations.
    /// </summary>
    private void RunPass(int n, bool prefill)
    {
        var vocab = _model.VocabSize;
        _metrics?.BatchSequences(n);
        try
        {
            var sessions = _sessions.AsSpan(0, n);
            var logits = _logits.AsSpan(0, n * vocab);
            if (prefill)
            {
                var lengths = _lengths.AsSpan(0, n);
                var total = 0;
                foreach (var l in lengths) total += l;
                _model.PrefillBatch(sessions, _prompt.AsSpan(0, total), lengths, logits);
            }
            else
                _model.DecodeBatch(sessions, _tokens.AsSpan(0, n), logits);
            for (var i = 0; i < n; i++)
            {
                var g = _decoding[i];
                try
                {
                    var row = _logits.AsSpan(i * vocab, vocab);
                    if (!(prefill ? g.ChunkEvaluated(row) : g.Accept(row))) Remove(g);
                }
                catch (Exception ex)
                {
                    g.Fail(ex);
                    Remove(g);
                }
            }
        }
        catch (Exception ex)
        {
            // The pass failed as a whole; no sequence of it can be trusted to have a consistent cache.
            for (var i = 0; i < n; i++)
            {
                _decoding[i].Fail(ex);
                Remove(_decoding[i]);
            }
        }
        finally
        {
            Array.Clear(_decoding, 0, n);
            Array.Clear(_sessions, 0, n);
        }
    }

    /// <summary>Marks <paramref name="g"/> gone; <see cref="Compact"/> closes the gap (no list shifting mid-iteration).</summary>
    private void Remove(Generation g)
    {
        var i = _active.IndexOf(g);
        if (i >= 0) _active[i] = null!;
    }

    private void Compact()
    {
        var w = 0;
        for (var r = 0; r < _active.Count; r++)
            if (_active[r] is { } g) _active[w++] = g;
        _active.RemoveRange(w, _active.Count - w);
    }

    private void Grow(int count)
    {
        if (_sessions.Length >= count) return;
        var capacity = Math.Max(count, 2 * _sessions.Length);
        _sessions = new IModelSession[capacity];
        _tokens = new int[capacity];
        _lengths = new int[capacity];
        _decoding = new Generation[capacity];
        _logits = new float[capacity * _model.VocabSize];
    }

    /// <summary>Stops the loop after its current step; generations still queued or running are cancelled.</summary>
    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _wake.Set();
        if ((_thread.ThreadState & ThreadState.Unstarted) == 0) _thread.Join();
        else foreach (var g in _incoming) g.Cancelled();
    }
}
