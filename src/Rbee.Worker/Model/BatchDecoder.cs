using Rbee.Worker.Kernels;

namespace Rbee.Worker.Model;

/// <summary>
/// One decode step for several sequences in one forward pass (continuous batching, as llama.cpp's server and vLLM
/// do): each session appends one token, and every weight matrix is read once for all of them
/// (<see cref="MatMul.MatMatInvariant"/>) instead of once per sequence. Batch-invariant on purpose: a sequence's
/// logits are bit for bit those of <see cref="InferenceSession.Evaluate(int)"/> alone, because every per-sequence
/// step (norms, RoPE, its own attention, each output element's dot product) runs exactly the single-token routine;
/// only the order in which sequences are visited changes. So greedy output does not depend on who else is served.
/// Scratch for <see cref="Capacity"/> sequences is allocated here once; a step allocates nothing. One thread at a time.
/// </summary>
public sealed class BatchDecoder
{
    private readonly LlamaModel _model;
    private readonly ModelConfig _c;
    private readonly float[] _x, _xn, _q, _k, _v, _att, _proj, _gate, _up;

    internal BatchDecoder(LlamaModel model, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _model = model;
        _c = model.Config;
        Capacity = capacity;
        _x = new float[capacity * _c.EmbeddingLength];
        _xn = new float[capacity * Math.Max(_c.EmbeddingLength, _c.QueryDim)];
        _q = new float[capacity * _c.QueryDim];
        _k = new float[capacity * _c.KvDim];
        _v = new float[capacity * _c.KvDim];
        _att = new float[capacity * _c.QueryDim];
        _proj = new float[capacity * _c.EmbeddingLength];
        _gate = new float[capacity * _c.FeedForwardLength];
        _up = new float[capacity * _c.FeedForwardLength];
    }

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
        int e = c.EmbeddingLength, qd = c.QueryDim, kvd = c.KvDim, ff = c.FeedForwardLength, vocab = c.VocabSize;
        if (tokens.Length != n) throw new ArgumentException($"{tokens.Length} tokens for {n} sessions", nameof(tokens));
        if (logits.Length < n * vocab) throw new ArgumentException($"logits hold {logits.Length} values, {n} rows of {vocab} needed", nameof(logits));
        for (var s = 0; s < n; s++)
        {
            if (sessions[s].Model != _model) throw new ArgumentException($"session {s} belongs to another model", nameof(sessions));
            for (var o = 0; o < s; o++)
                if (sessions[o] == sessions[s]) throw new ArgumentException($"session {s} appears twice in one step", nameof(sessions));
            sessions[s].CheckNext(tokens[s]);
        }

        Span<Attention.Next> attention = stackalloc Attention.Next[n];
        _model.Enter();
        try
        {
            for (var s = 0; s < n; s++) EmbeddingLookup.Row(_model.TokenEmbedding, tokens[s], _x.AsSpan(s * e, e));
            for (var l = 0; l < c.Layers; l++)
            {
                var w = _model.Layers[l];
                for (var s = 0; s < n; s++)
                    VectorOps.RmsNorm(_x.AsSpan(s * e, e), w.AttnNorm, c.RmsEpsilon, _xn.AsSpan(s * e, e));
                MatMul.MatMatGroup(_xn, n, invariant: true, w.Wq, _q, w.Wk, _k, w.Wv, _v);
                for (var s = 0; s < n; s++)
                    sessions[s].StoreNext(l, _q.AsSpan(s * qd, qd), _k.AsSpan(s * kvd, kvd), _v.AsSpan(s * kvd, kvd));
                Attend(sessions, l, attention);
                Mul(w.Wo, _att, n, _proj);
                VectorOps.Add(_proj.AsSpan(0, n * e), _x.AsSpan(0, n * e));

                for (var s = 0; s < n; s++)
                    VectorOps.RmsNorm(_x.AsSpan(s * e, e), w.FfnNorm, c.RmsEpsilon, _xn.AsSpan(s * e, e));
                MatMul.MatMatGroup(_xn, n, invariant: true, w.Wgate, _gate, w.Wup, _up);
                VectorOps.SiluMul(_gate.AsSpan(0, n * ff), _up.AsSpan(0, n * ff));
                Mul(w.Wdown, _gate, n, _proj);
                VectorOps.Add(_proj.AsSpan(0, n * e), _x.AsSpan(0, n * e));
            }
            for (var s = 0; s < n; s++)
                VectorOps.RmsNorm(_x.AsSpan(s * e, e), _model.OutputNorm, c.RmsEpsilon, _xn.AsSpan(s * e, e));
            Mul(_model.Output, _xn, n, logits);
            for (var s = 0; s < n; s++) sessions[s].CommitNext(tokens[s]);
        }
        finally
        {
            _model.Exit();
        }
    }

    /// <summary>Every sequence's attention of layer <paramref name="layer"/> in one pass (<see cref="Attention.RunNext"/>).</summary>
    private unsafe void Attend(ReadOnlySpan<InferenceSession> sessions, int layer, Span<Attention.Next> attention)
    {
        var qd = _c.QueryDim;
        fixed (float* q = _q)
        fixed (float* att = _att)
        {
            for (var s = 0; s < sessions.Length; s++) attention[s] = sessions[s].NextAttention(layer, q + s * qd, att + s * qd);
            Attention.RunNext(attention, _c);
        }
    }

    private static void Mul(in WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y) =>
        MatMul.MatMatInvariant(w, x[..(n * w.Cols)], n, y[..(n * w.Rows)]);
}
