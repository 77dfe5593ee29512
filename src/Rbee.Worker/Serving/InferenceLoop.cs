using System.Collections.Concurrent;

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

    // Step buffers, grown when more generations are active than ever before.
    private IModelSession[] _sessions = [];
    private int[] _tokens = [], _lengths = [];
    private readonly int[] _prompt = new int[Generation.PromptBatch];
    private Generation[] _decoding = [];
    private float[] _logits = [];

    /// <summary>Starts the loop's thread unless <paramref name="start"/> is false (tests then enqueue requests before
    /// the first step and call <see cref="Start"/>, so those requests are certain to share it).</summary>
    public InferenceLoop(IServedModel model, WorkerMetrics? metrics = null, bool start = true)
    {
        _model = model;
        _metrics = metrics;
        _thread = new Thread(Run) { IsBackground = true, Name = "rbee-inference" };
        if (start) Start();
    }

    public void Start() => _thread.Start();

    /// <summary>
    /// Queues <paramref name="request"/> on <paramref name="slot"/> (held by the caller until the result is set).
    /// <paramref name="streaming"/> makes text available on <see cref="Generation.Text"/> as it is generated;
    /// <paramref name="ct"/> cancelled drops the generation at the next step.
    /// </summary>
    public Generation Submit(Slot slot, GenerationRequest request, bool streaming, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        var g = new Generation(_model, slot, request, streaming, ct);
        _incoming.Enqueue(g);
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
    public async Task<GenerationResult> RunAsync(
        Slot slot, GenerationRequest request, Func<string, CancellationToken, ValueTask>? onText, CancellationToken ct)
    {
        var g = Submit(slot, request, onText is not null, ct);
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
                Admit();
                if (_active.Count == 0)
                {
                    if (_incoming.IsEmpty && !_stopping) _wake.Wait();
                    continue;
                }
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
