using System.Runtime.InteropServices;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Model;

/// <summary>
/// One decode step for several sequences in one forward pass (continuous batching, as llama.cpp's server and vLLM
/// do): each session appends one token, and every weight matrix is read once for all of them
/// (<see cref="MatMul.MatMatInvariant"/>) instead of once per sequence. Batch-invariant on purpose: a sequence's
/// logits are bit for bit those of <see cref="InferenceSession.Evaluate(int)"/> alone, because every per-sequence
/// step (norms, RoPE, its own attention, each output element's dot product) runs exactly the single-token routine;
/// only the order in which sequences are visited changes. So greedy output does not depend on who else is served.
/// It also evaluates several sessions' prompt chunks in one forward pass (<see cref="Prefill"/>). Scratch for
/// <see cref="Capacity"/> sequences is allocated here once (for prefill, on its first use); a step allocates nothing.
/// One thread at a time.
/// </summary>
public sealed class BatchDecoder
{
    private readonly LlamaModel _model;
    private readonly ModelConfig _c;
    private readonly ForwardBuffers _b;
    private ForwardBuffers? _prefill;

    internal BatchDecoder(LlamaModel model, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _model = model;
        _c = model.Config;
        Capacity = capacity;
        _b = new ForwardBuffers(_c, capacity);
        _sessions = new InferenceSession[capacity];
    }

    /// <summary>The sessions of the step in progress while its per-sequence tasks run (<see cref="EachSequence"/>).</summary>
    private readonly InferenceSession[] _sessions;

    /// <summary>Most sequences one step takes.</summary>
    public int Capacity { get; }

    /// <summary>
    /// Appends <c>tokens[i]</c> to <c>sessions[i]</c> for every i and writes each one's logits to row i of
    /// <paramref name="logits"/> (<see cref="ModelConfig.VocabSize"/> values per row). The sessions must be distinct
    /// sessions of this decoder's model; a session that cannot take the token (full context, id outside the
    /// vocabulary) fails the whole step before anything is changed.
    /// </summary>
    public void Decode(ReadOnlySpan<InferenceSession> sessions, ReadOnlySpan<int> tokens, Span<float> logits)
    {
        var n = sessions.Length;
        if (n == 0) return;
        ArgumentOutOfRangeException.ThrowIfGreaterThan(n, Capacity, nameof(sessions));
        var c = _c;
        int e = c.EmbeddingLength, vocab = c.VocabSize;
        if (tokens.Length != n) throw new ArgumentException($"{tokens.Length} tokens for {n} sessions", nameof(tokens));
        if (logits.Length < n * vocab) throw new ArgumentException($"logits hold {logits.Length} values, {n} rows of {vocab} needed", nameof(logits));
        for (var s = 0; s < n; s++)
        {
            CheckMember(sessions, s);
            sessions[s].CheckAppend(tokens.Slice(s, 1));
        }

        Span<Attention.Next> attention = stackalloc Attention.Next[n];
        _model.Enter();
        try
        {
            for (var s = 0; s < n; s++) EmbeddingLookup.Row(_model.TokenEmbedding, tokens[s], _b.X.AsSpan(s * e, e));
            for (var l = 0; l < c.Layers; l++)
            {
                var w = _model.Layers[l];
                VectorOps.RmsNormRows(_b.X, w.AttnNorm, c.RmsEpsilon, _b.Xn, n, e);
                MatMul.MatMatGroup(_b.Xn, n, invariant: true, w.Wq, _b.Q, w.Wk, _b.K, w.Wv, _b.V);
                EachSequence(sessions, l, SequenceWork.Store);
                Attend(sessions, l, attention);
                Mul(w.Wo, _b.Att, n, _b.Proj);
                VectorOps.Add(_b.Proj.AsSpan(0, n * e), _b.X.AsSpan(0, n * e));

                VectorOps.RmsNormRows(_b.X, w.FfnNorm, c.RmsEpsilon, _b.Xn, n, e);
                MatMul.MatMatGroup(_b.Xn, n, invariant: true, w.Wgate, _b.Gate, w.Wup, _b.Up);
                EachSequence(sessions, l, SequenceWork.SiluMul);
                Mul(w.Wdown, _b.Gate, n, _b.Proj);
                VectorOps.Add(_b.Proj.AsSpan(0, n * e), _b.X.AsSpan(0, n * e));
            }
            VectorOps.RmsNormRows(_b.X, _model.OutputNorm, c.RmsEpsilon, _b.Xn, n, e);
            Mul(_model.Output, _b.Xn, n, logits);
            for (var s = 0; s < n; s++) sessions[s].CommitNext(tokens[s]);
        }
        finally
        {
            _model.Exit();
        }
    }

    /// <summary>
    /// Whether a prompt chunk of <paramref name="tokens"/> tokens may share a <see cref="Prefill"/> pass: it is one
    /// forward step of a session (at most <see cref="ModelLoadOptions.BatchSize"/>), at least a tile of the prefill
    /// kernels, and at that size every layer matrix computes each token by itself (<see cref="MatMul.IsTokenwise"/>),
    /// so the token's result cannot depend on the other chunks in the pass.
    /// </summary>
    public bool PrefillsTogether(int tokens)
    {
        if (tokens < Q8Activations.TileTokens || tokens > PrefillTokens) return false;
        foreach (var w in _model.Layers)
            if (!MatMul.IsTokenwise(w.Wq, tokens) || !MatMul.IsTokenwise(w.Wk, tokens) || !MatMul.IsTokenwise(w.Wv, tokens)
                || !MatMul.IsTokenwise(w.Wo, tokens) || !MatMul.IsTokenwise(w.Wgate, tokens) || !MatMul.IsTokenwise(w.Wup, tokens)
                || !MatMul.IsTokenwise(w.Wdown, tokens))
                return false;
        return true;
    }

    /// <summary>Most prompt tokens, all chunks together, one <see cref="Prefill"/> pass takes.</summary>
    public int PrefillTokens => _model.Options.BatchSize;

    /// <summary>
    /// Appends a chunk of prompt to each session in one forward pass and writes the logits after each chunk's last token
    /// to row i of <paramref name="logits"/>: <c>sessions[i]</c> takes the next <c>lengths[i]</c> of
    /// <paramref name="tokens"/>. Prompts that arrive together (as concurrent chat turns do) then read the weights once,
    /// not once each. Every chunk must be one <see cref="PrefillsTogether"/> accepts, and together at most
    /// <see cref="PrefillTokens"/>; then each session's cache and logits are bit for bit those of
    /// <see cref="InferenceSession.Evaluate(ReadOnlySpan{int})"/> of its chunk alone (the logits go through
    /// <see cref="MatMul.MatMatInvariant"/>, as one token's do through <see cref="MatMul.MatVec"/>). A session that
    /// cannot take its chunk fails the whole pass before anything is changed.
    /// </summary>
    public void Prefill(ReadOnlySpan<InferenceSession> sessions, ReadOnlySpan<int> tokens, ReadOnlySpan<int> lengths, Span<float> logits)
    {
        var n = sessions.Length;
        if (n == 0) return;
        int e = _c.EmbeddingLength, vocab = _c.VocabSize;
        if (lengths.Length != n) throw new ArgumentException($"{lengths.Length} chunk lengths for {n} sessions", nameof(lengths));
        if (logits.Length < n * vocab) throw new ArgumentException($"logits hold {logits.Length} values, {n} rows of {vocab} needed", nameof(logits));
        var total = 0;
        for (var s = 0; s < n; s++)
        {
            if (!PrefillsTogether(lengths[s]))
                throw new ArgumentException($"a chunk of {lengths[s]} tokens cannot share a prefill pass; evaluate it alone", nameof(lengths));
            total += lengths[s];
        }
        if (total != tokens.Length) throw new ArgumentException($"the chunks add up to {total} tokens, {tokens.Length} given", nameof(tokens));
        if (total > PrefillTokens) throw new ArgumentException($"{total} tokens exceed one prefill pass's {PrefillTokens}", nameof(tokens));
        for (int s = 0, at = 0; s < n; at += lengths[s++])
        {
            CheckMember(sessions, s);
            sessions[s].CheckAppend(tokens.Slice(at, lengths[s]));
        }

        var b = _prefill ??= new ForwardBuffers(_c, PrefillTokens);
        _model.Enter();
        try
        {
            InferenceSession.Forward(sessions, tokens, lengths, b);
            for (int s = 0, at = 0; s < n; at += lengths[s++])
                VectorOps.RmsNorm(b.X.AsSpan((at + lengths[s] - 1) * e, e), _model.OutputNorm, _c.RmsEpsilon, b.Xn.AsSpan(s * e, e));
            Mul(_model.Output, b.Xn, n, logits);
            for (var s = 0; s < n; s++) sessions[s].Advance(lengths[s]);
        }
        finally
        {
            _model.Exit();
        }
    }

    private enum SequenceWork { Store, SiluMul }

    /// <summary>A step's work per sequence outside the matrix products, for <see cref="SequenceTask"/>.</summary>
    private struct SequenceJob
    {
        public nint Decoder;
        public int Layer;
        public SequenceWork Work;
    }

    /// <summary>
    /// One layer's <paramref name="work"/> for every sequence: its token's query, key and value finished and stored
    /// (<see cref="InferenceSession.StoreNext"/>), or its feed-forward gate (<see cref="VectorOps.SiluMul"/>), each
    /// sequence exactly as alone. From two sequences on, each is a task on the pool: run on this thread, the other
    /// threads only waited for it.
    /// </summary>
    private unsafe void EachSequence(ReadOnlySpan<InferenceSession> sessions, int layer, SequenceWork work)
    {
        var n = sessions.Length;
        if (n == 1)
        {
            RunSequence(sessions[0], 0, layer, work);
            return;
        }
        sessions.CopyTo(_sessions);
        var self = GCHandle.Alloc(this);
        try
        {
            var job = new SequenceJob { Decoder = GCHandle.ToIntPtr(self), Layer = layer, Work = work };
            ComputePool.Shared.Run(&SequenceTask, &job, n);
        }
        finally
        {
            self.Free();
            Array.Clear(_sessions);
        }
    }

    private static unsafe void SequenceTask(void* context, int s)
    {
        var job = (SequenceJob*)context;
        var decoder = (BatchDecoder)GCHandle.FromIntPtr(job->Decoder).Target!;
        decoder.RunSequence(decoder._sessions[s], s, job->Layer, job->Work);
    }

    private void RunSequence(InferenceSession session, int s, int layer, SequenceWork work)
    {
        if (work == SequenceWork.Store)
        {
            int qd = _c.QueryDim, kvd = _c.KvDim;
            session.StoreNext(layer, _b.Q.AsSpan(s * qd, qd), _b.K.AsSpan(s * kvd, kvd), _b.V.AsSpan(s * kvd, kvd));
        }
        else
        {
            var ff = _c.FeedForwardLength;
            VectorOps.SiluMul(_b.Gate.AsSpan(s * ff, ff), _b.Up.AsSpan(s * ff, ff));
        }
    }

    /// <summary>Session <paramref name="s"/> of a pass belongs to this decoder's model and appears in it once.</summary>
    private void CheckMember(ReadOnlySpan<InferenceSession> sessions, int s)
    {
        if (sessions[s].Model != _model) throw new ArgumentException($"session {s} belongs to another model", nameof(sessions));
        for (var o = 0; o < s; o++)
            if (sessions[o] == sessions[s]) throw new ArgumentException($"session {s} appears twice in one pass", nameof(sessions));
    }

    /// <summary>Every sequence's attention of layer <paramref name="layer"/> in one pass (<see cref="Attention.RunNext"/>).</summary>
    private unsafe void Attend(ReadOnlySpan<InferenceSession> sessions, int layer, Span<Attention.Next> attention)
    {
        var qd = _c.QueryDim;
        fixed (float* q = _b.Q)
        fixed (float* att = _b.Att)
        {
            for (var s = 0; s < sessions.Length; s++) attention[s] = sessions[s].NextAttention(layer, q + s * qd, att + s * qd);
            Attention.RunNext(attention, _c);
        }
    }

    private static void Mul(in WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y) =>
        MatMul.MatMatInvariant(w, x[..(n * w.Cols)], n, y[..(n * w.Rows)]);
}
