using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Model;

/// <summary>
/// One sequence being evaluated: its own KV cache and scratch, so several sessions can run on one
/// <see cref="LlamaModel"/> from different threads. A session itself is used by one thread at a time.
/// Everything is allocated here, once; evaluating tokens allocates nothing (except <see cref="EvaluateAll"/>'s result).
/// </summary>
public sealed class InferenceSession
{
    private readonly LlamaModel _model;
    private readonly ModelConfig _c;
    private readonly int _batch;

    // KV cache, one array per layer: [kv head][position][head dim] (Attention.CacheIndex), stored as fp16 as
    // llama.cpp's default cache is (half the memory of float; see Attention for why the rounding itself matters).
    private readonly Half[][] _keys;
    private readonly Half[][] _values;

    // Scratch for one prompt step of up to _batch tokens.
    private readonly ForwardBuffers _b;
    private readonly float[] _logits;

    // RoPE's cos and sin of positions _ropeFrom.._ropeFrom+_ropeCount-1, a row of RopeDimensions/2 each: computed once
    // per pass (PrepareRope) and read by every layer, instead of by every layer for itself.
    private readonly float[] _ropeCos, _ropeSin;
    private int _ropeFrom = -1, _ropeCount;

    // The token at each cached position, so a new prompt can reuse the prefix it shares with the last one.
    private readonly int[] _tokens;

    internal InferenceSession(LlamaModel model, int contextSize)
    {
        _model = model;
        _c = model.Config;
        ContextSize = contextSize;
        _batch = Math.Min(model.Options.BatchSize, contextSize);
        _keys = new Half[_c.Layers][];
        _values = new Half[_c.Layers][];
        for (var l = 0; l < _c.Layers; l++)
        {
            // Pinned, so a batched decode step can hand every sequence's cache to one attention pass by address.
            _keys[l] = GC.AllocateArray<Half>(checked(contextSize * _c.KvDim), pinned: true);
            _values[l] = GC.AllocateArray<Half>(checked(contextSize * _c.KvDim), pinned: true);
        }
        _b = new ForwardBuffers(_c, _batch);
        _ropeCos = new float[_batch * (_c.RopeDimensions / 2)];
        _ropeSin = new float[_batch * (_c.RopeDimensions / 2)];
        _logits = new float[_c.VocabSize];
        _tokens = new int[contextSize];
    }

    public LlamaModel Model => _model;

    /// <summary>Positions this session's KV cache holds.</summary>
    public int ContextSize { get; }

    /// <summary>Tokens evaluated so far: the position the next token takes.</summary>
    public int Position { get; private set; }

    /// <summary>The tokens the KV cache holds, in order (valid until the next change).</summary>
    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, Position);

    /// <summary>
    /// Appends <paramref name="tokens"/> (prefill: in batches through <see cref="MatMul.MatMat"/>; one token:
    /// <see cref="MatMul.MatVec"/>) and returns the logits of the last one. The span is this session's buffer,
    /// valid until the next call.
    /// </summary>
    public ReadOnlySpan<float> Evaluate(scoped ReadOnlySpan<int> tokens)
    {
        Check(tokens);
        _model.Enter();
        try
        {
            for (var start = 0; start < tokens.Length; start += _batch)
            {
                var n = Math.Min(_batch, tokens.Length - start);
                Forward([this], tokens.Slice(start, n), [n], _b);
                if (start + n == tokens.Length)
                {
                    var e = _c.EmbeddingLength;
                    VectorOps.RmsNorm(_b.X.AsSpan((n - 1) * e, e), _model.OutputNorm, _c.RmsEpsilon, _b.Xn.AsSpan(0, e));
                    MatMul.MatVec(_model.Output, _b.Xn.AsSpan(0, e), _logits);
                }
                Position += n;
            }
        }
        finally
        {
            _model.Exit();
        }
        return _logits;
    }

    /// <summary>Appends one token and returns its logits (the decode step).</summary>
    public ReadOnlySpan<float> Evaluate(int token) => Evaluate([token]);

    /// <summary>
    /// Appends <paramref name="tokens"/> and returns the logits after every one of them: row i (of
    /// <see cref="ModelConfig.VocabSize"/> values) predicts the token after <c>tokens[i]</c>. For log-probabilities
    /// of a given continuation (echo, scoring); allocates its result.
    /// </summary>
    public float[] EvaluateAll(ReadOnlySpan<int> tokens)
    {
        Check(tokens);
        var vocab = _c.VocabSize;
        var e = _c.EmbeddingLength;
        if ((long)tokens.Length * vocab > Array.MaxLength)
            throw new ArgumentException($"{tokens.Length} tokens × {vocab} logits do not fit one array; evaluate fewer at a time", nameof(tokens));
        var result = new float[tokens.Length * vocab];
        _model.Enter();
        try
        {
            for (var start = 0; start < tokens.Length; start += _batch)
            {
                var n = Math.Min(_batch, tokens.Length - start);
                Forward([this], tokens.Slice(start, n), [n], _b);
                for (var t = 0; t < n; t++)
                    VectorOps.RmsNorm(_b.X.AsSpan(t * e, e), _model.OutputNorm, _c.RmsEpsilon, _b.Xn.AsSpan(t * e, e));
                Mul(_model.Output, _b.Xn, n, result.AsSpan(start * vocab, n * vocab));
                Position += n;
            }
        }
        finally
        {
            _model.Exit();
        }
        result.AsSpan((tokens.Length - 1) * vocab, vocab).CopyTo(_logits);
        return result;
    }

    /// <summary>Forgets every position from <paramref name="position"/> on, keeping the prefix before it for reuse.</summary>
    public void Truncate(int position)
    {
        if (position < 0 || position > Position)
            throw new ArgumentOutOfRangeException(nameof(position), position, $"position must be between 0 and the current {Position}");
        Position = position;
    }

    /// <summary>
    /// Prepares to evaluate <paramref name="prompt"/> reusing the longest prefix it shares with the cached tokens:
    /// truncates to that prefix, but always leaves at least the prompt's last token to evaluate, so the caller gets
    /// fresh logits. Returns how many leading prompt tokens are already cached; evaluate <c>prompt[returned..]</c>.
    /// </summary>
    public int ReusePrefix(ReadOnlySpan<int> prompt)
    {
        var shared = prompt.CommonPrefixLength(Tokens);
        if (shared == prompt.Length && shared > 0) shared--;
        Truncate(shared);
        return shared;
    }

    /// <summary>Empties the session (its buffers are kept).</summary>
    public void Reset() => Position = 0;

    private void Check(ReadOnlySpan<int> tokens)
    {
        if (tokens.IsEmpty) throw new ArgumentException("no tokens to evaluate", nameof(tokens));
        if (tokens.Length > ContextSize - Position) throw new ContextFullException(ContextSize, Position, tokens.Length);
        foreach (var t in tokens)
            if ((uint)t >= (uint)_model.TokenEmbedding.Rows)
                throw new ArgumentOutOfRangeException(nameof(tokens), t, $"token id {t} is outside the vocabulary of {_model.TokenEmbedding.Rows}");
    }

    /// <summary>
    /// Runs a chunk of tokens for each session through every layer, leaving the hidden states in <paramref name="b"/>'s
    /// <see cref="ForwardBuffers.X"/>: <c>sessions[i]</c> appends the next <c>lengths[i]</c> of <paramref name="tokens"/>
    /// at its <see cref="Position"/> (which the caller advances afterwards). Every matrix product takes all the tokens at
    /// once, so the weights are read once for all the chunks; norms, RoPE, the cache writes and attention are each
    /// session's own. One session is <see cref="Evaluate(ReadOnlySpan{int})"/>'s prompt step. With several, a token's
    /// result is bit for bit that of its chunk run alone when every matrix computes each token by itself at this size
    /// (<see cref="MatMul.IsTokenwise"/>; see <see cref="BatchDecoder.Prefill"/>).
    /// </summary>
    internal static void Forward(ReadOnlySpan<InferenceSession> sessions, ReadOnlySpan<int> tokens, ReadOnlySpan<int> lengths, ForwardBuffers b)
    {
        var n = tokens.Length;
        var model = sessions[0]._model;
        var c = model.Config;
        int e = c.EmbeddingLength, qd = c.QueryDim, kvd = c.KvDim, ff = c.FeedForwardLength;

        for (int i = 0, at = 0; i < sessions.Length; at += lengths[i++])
            tokens.Slice(at, lengths[i]).CopyTo(sessions[i]._tokens.AsSpan(sessions[i].Position));
        for (var t = 0; t < n; t++) EmbeddingLookup.Row(model.TokenEmbedding, tokens[t], b.X.AsSpan(t * e, e));
        for (var i = 0; i < sessions.Length; i++) sessions[i].PrepareRope(sessions[i].Position, lengths[i]);

        for (var l = 0; l < c.Layers; l++)
        {
            var w = model.Layers[l];

            // Attention block.
            VectorOps.RmsNormRows(b.X, w.AttnNorm, c.RmsEpsilon, b.Xn, n, e);
            MatMul.MatMatGroup(b.Xn, n, invariant: false, w.Wq, b.Q, w.Wk, b.K, w.Wv, b.V);
            for (int i = 0, at = 0; i < sessions.Length; at += lengths[i++])
            {
                var s = sessions[i];
                for (var t = at; t < at + lengths[i]; t++)
                    s.StoreQkv(w, s._keys[l], s._values[l], b.Q.AsSpan(t * qd, qd), b.K.AsSpan(t * kvd, kvd),
                        b.V.AsSpan(t * kvd, kvd), s.Position + t - at);
                // Causal attention: token t sees positions 0..Position+t. Heads in a group share one KV head (GQA).
                Attention.Run(b.Q.AsSpan(at * qd, lengths[i] * qd), s._keys[l], s._values[l],
                    b.Att.AsSpan(at * qd, lengths[i] * qd), lengths[i], s.Position, c);
            }
            Mul(w.Wo, b.Att, n, b.Proj);
            VectorOps.Add(b.Proj.AsSpan(0, n * e), b.X.AsSpan(0, n * e));

            // Feed-forward block (SwiGLU).
            VectorOps.RmsNormRows(b.X, w.FfnNorm, c.RmsEpsilon, b.Xn, n, e);
            MatMul.MatMatGroup(b.Xn, n, invariant: false, w.Wgate, b.Gate, w.Wup, b.Up);
            VectorOps.SiluMul(b.Gate.AsSpan(0, n * ff), b.Up.AsSpan(0, n * ff));
            Mul(w.Wdown, b.Gate, n, b.Proj);
            VectorOps.Add(b.Proj.AsSpan(0, n * e), b.X.AsSpan(0, n * e));
        }
    }

    /// <summary>
    /// Finishes one token's query, key and value of one layer (biases, q/k norms, RoPE at <paramref name="pos"/>, fp16
    /// rounding) and stores the key and value in the cache at <paramref name="pos"/>. Shared by the single-sequence
    /// forward pass and <see cref="BatchDecoder"/>, so a token is prepared the same way in both.
    /// </summary>
    private void StoreQkv(LayerWeights w, Half[] keys, Half[] values, Span<float> q, Span<float> k, Span<float> v, int pos)
    {
        var c = _c;
        var hd = c.HeadDim;
        if (w.Bq is not null) VectorOps.Add(w.Bq, q);
        if (w.Bk is not null) VectorOps.Add(w.Bk, k);
        if (w.Bv is not null) VectorOps.Add(w.Bv, v);
        if (w.QNorm is not null)
            for (var h = 0; h < c.Heads; h++) VectorOps.RmsNorm(q.Slice(h * hd, hd), w.QNorm, c.RmsEpsilon, q.Slice(h * hd, hd));
        if (w.KNorm is not null)
            for (var h = 0; h < c.KvHeads; h++) VectorOps.RmsNorm(k.Slice(h * hd, hd), w.KNorm, c.RmsEpsilon, k.Slice(h * hd, hd));

        if (pos < _ropeFrom || pos >= _ropeFrom + _ropeCount) PrepareRope(pos, 1);
        var half = c.RopeDimensions / 2;
        var cos = _ropeCos.AsSpan((pos - _ropeFrom) * half, half);
        var sin = _ropeSin.AsSpan((pos - _ropeFrom) * half, half);
        VectorOps.Rope(q, c.Heads, hd, c.RopeDimensions, c.RopeStyle, cos, sin);
        VectorOps.Rope(k, c.KvHeads, hd, c.RopeDimensions, c.RopeStyle, cos, sin);
        for (var h = 0; h < c.KvHeads; h++)
        {
            var at = (int)Attention.CacheIndex(c, ContextSize, h, pos);
            StoreHalf(k.Slice(h * hd, hd), keys.AsSpan(at, hd));
            StoreHalf(v.Slice(h * hd, hd), values.AsSpan(at, hd));
        }
    }

    /// <summary>Rounds to the nearest fp16 (ties to even), as ggml's F32 → F16 copy into the cache does: eight at a
    /// time by <see cref="VectorOps.ToHalfBits"/>, the rest by the library conversion.</summary>
    private static void StoreHalf(ReadOnlySpan<float> x, Span<Half> cache)
    {
        var i = VectorOps.ToHalf(x, MemoryMarshal.Cast<Half, ushort>(cache));
        for (; i < x.Length; i++) cache[i] = (Half)x[i];
    }

    /// <summary>Checks that <paramref name="tokens"/> may be appended (context room, vocabulary), for <see cref="BatchDecoder"/>.</summary>
    internal void CheckAppend(ReadOnlySpan<int> tokens) => Check(tokens);

    /// <summary>Moves past the <paramref name="count"/> tokens a <see cref="Forward"/> pass has appended.</summary>
    internal void Advance(int count) => Position += count;

    /// <summary><see cref="StoreQkv"/> for the one token <see cref="BatchDecoder"/> appends to this session, at <see cref="Position"/>.</summary>
    internal void StoreNext(int layer, Span<float> q, Span<float> k, Span<float> v) =>
        StoreQkv(_model.Layers[layer], _keys[layer], _values[layer], q, k, v, Position);

    /// <summary>The next token's attention over this session's cache (which already holds its key and value), for
    /// <see cref="Attention.RunNext"/>; <paramref name="q"/> and <paramref name="output"/> must stay pinned until it runs.</summary>
    internal unsafe Attention.Next NextAttention(int layer, float* q, float* output) => new()
    {
        Q = q, Out = output, Context = ContextSize, Start = Position,
        Keys = (Half*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_keys[layer])),
        Values = (Half*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_values[layer])),
    };

    /// <summary>Records <paramref name="token"/> at <see cref="Position"/> and moves past it, once every layer has run.</summary>
    internal void CommitNext(int token)
    {
        _tokens[Position] = token;
        Position++;
    }

    /// <summary>RoPE's angles for positions <paramref name="from"/>.. (<paramref name="count"/> of them, as many as the
    /// table holds), unless the table has them already: a decode step's layers share one row, a prompt step's one row
    /// per token.</summary>
    private void PrepareRope(int from, int count)
    {
        var inv = _model.RopeInvFreq;
        var half = inv.Length;
        if (half == 0) return;
        count = Math.Min(count, _ropeCos.Length / half);
        if (from == _ropeFrom && count <= _ropeCount) return;
        for (var r = 0; r < count; r++)
        {
            var pos = from + r;
            for (var i = 0; i < half; i++)
            {
                var theta = pos * inv[i];
                _ropeCos[r * half + i] = MathF.Cos(theta);
                _ropeSin[r * half + i] = MathF.Sin(theta);
            }
        }
        _ropeFrom = from;
        _ropeCount = count;
    }

    /// <summary>One token goes through MatVec (decode), several through MatMat (prefill).</summary>
    private static void Mul(in WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y)
    {
        if (n == 1) MatMul.MatVec(w, x[..w.Cols], y[..w.Rows]);
        else MatMul.MatMat(w, x[..(n * w.Cols)], n, y[..(n * w.Rows)]);
    }
}
