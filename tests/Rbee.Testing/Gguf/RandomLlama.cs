using System.Buffers.Binary;

namespace Rbee.Testing.Gguf;

/// <summary>Shape and options of a generated random-weight model (llama.cpp's tensor names and metadata keys).</summary>
public sealed record RandomLlamaSpec
{
    /// <summary><c>llama</c> or <c>qwen2</c> (or any other name, to test refusal).</summary>
    public string Architecture { get; init; } = "llama";
    public int Embedding { get; init; } = 64;
    public int FeedForward { get; init; } = 128;
    public int Layers { get; init; } = 2;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;
    /// <summary>Vocabulary size when <see cref="VocabFrom"/> is null (tokens are named <c>&lt;t{i}&gt;</c>).</summary>
    public int Vocab { get; init; } = 256;
    /// <summary>Head size when it is not n_embd / n_head (written as <c>attention.key_length</c>/<c>value_length</c>).</summary>
    public int? HeadDim { get; init; }
    public int Context { get; init; } = 128;
    /// <summary>Type of the 2-D weights: <see cref="GgmlTypeCode.F32"/>, <see cref="GgmlTypeCode.F16"/>,
    /// <see cref="GgmlTypeCode.Q8_0"/> or <see cref="GgmlTypeCode.Q4_0"/> (quantized here, as ggml's reference does).</summary>
    public uint WeightType { get; init; } = GgmlTypeCode.F32;
    public int Seed { get; init; } = 1;
    /// <summary>Bias vectors on q, k and v (qwen2 has them). Default: true for qwen2.</summary>
    public bool? QkvBias { get; init; }
    /// <summary>Per-head RMSNorm weights on q and k (<c>attn_q_norm</c>/<c>attn_k_norm</c>). Default: true for qwen3.</summary>
    public bool? QkNorm { get; init; }
    /// <summary>When set, written as <c>rope_freqs.weight</c> (Llama 3.1 style per-pair frequency divisors).</summary>
    public float[]? RopeFreqFactors { get; init; }
    /// <summary>Leave out <c>output.weight</c> so the engine must use <c>token_embd.weight</c>.</summary>
    public bool TiedOutput { get; init; }
    public float RopeFreqBase { get; init; } = 10000f;
    public int? RopeDimensions { get; init; }
    /// <summary>When set, <c>rope.scaling.type = linear</c> with this factor.</summary>
    public float? RopeLinearScale { get; init; }
    public float RmsEpsilon { get; init; } = 1e-5f;
    /// <summary>A vocabulary GGUF whose <c>tokenizer.*</c> metadata is copied (its token count becomes the vocab size).</summary>
    public string? VocabFrom { get; init; }
    /// <summary>Tensors to leave out (to test that a missing one is named).</summary>
    public IReadOnlyCollection<string> Omit { get; init; } = [];
}

/// <summary>
/// Generates a random-weight llama-family GGUF of a given shape: the same tensor names, shapes and metadata keys
/// llama.cpp's converter writes, so the engine and benchmarks can run models of real size without downloading
/// one. Weights are uniform in ±1/√fan_in so activations stay in a sane range through many layers.
/// </summary>
public static class RandomLlama
{
    public static void Write(string path, RandomLlamaSpec spec) => Build(spec).Write(path);

    public static GgufWriter Build(RandomLlamaSpec s)
    {
        var w = new GgufWriter();
        var arch = s.Architecture;
        var rng = new Random(s.Seed);
        var headDim = s.HeadDim ?? s.Embedding / s.Heads;
        var qDim = headDim * s.Heads;
        var kvDim = headDim * s.KvHeads;
        var bias = s.QkvBias ?? arch == "qwen2";
        var qkNorm = s.QkNorm ?? arch == "qwen3";

        w.Set("general.architecture", arch);
        w.Set("general.name", $"random-{arch}-{s.Embedding}x{s.Layers}");
        w.Set($"{arch}.context_length", (uint)s.Context);
        w.Set($"{arch}.embedding_length", (uint)s.Embedding);
        w.Set($"{arch}.block_count", (uint)s.Layers);
        w.Set($"{arch}.feed_forward_length", (uint)s.FeedForward);
        w.Set($"{arch}.attention.head_count", (uint)s.Heads);
        w.Set($"{arch}.attention.head_count_kv", (uint)s.KvHeads);
        w.Set($"{arch}.attention.layer_norm_rms_epsilon", s.RmsEpsilon);
        w.Set($"{arch}.rope.freq_base", s.RopeFreqBase);
        w.Set($"{arch}.rope.dimension_count", (uint)(s.RopeDimensions ?? headDim));
        if (s.HeadDim is not null)
        {
            w.Set($"{arch}.attention.key_length", (uint)headDim);
            w.Set($"{arch}.attention.value_length", (uint)headDim);
        }
        if (s.RopeLinearScale is { } f)
        {
            w.Set($"{arch}.rope.scaling.type", "linear");
            w.Set($"{arch}.rope.scaling.factor", f);
        }

        int vocab;
        if (s.VocabFrom is not null)
        {
            w.CopyMetadataFrom(s.VocabFrom, "tokenizer.");
            vocab = TokenCount(s.VocabFrom);
        }
        else
        {
            vocab = s.Vocab;
            w.Set("tokenizer.ggml.model", "llama");
            w.Set("tokenizer.ggml.tokens", Enumerable.Range(0, vocab).Select(i => $"<t{i}>").ToArray());
            w.Set("tokenizer.ggml.scores", new float[vocab]);
            w.Set("tokenizer.ggml.token_type", Enumerable.Repeat(1, vocab).ToArray());
            w.Set("tokenizer.ggml.bos_token_id", 1u);
            w.Set("tokenizer.ggml.eos_token_id", 2u);
        }

        void Matrix(string name, int cols, int rows)
        {
            var v = Uniform(rng, cols * rows, 1f / MathF.Sqrt(cols));
            if (!s.Omit.Contains(name)) AddWeight(w, name, [cols, rows], v, s.WeightType);
        }
        void Vector(string name, int n, float center, float spread)
        {
            var v = Uniform(rng, n, spread);
            for (var i = 0; i < n; i++) v[i] += center;
            if (!s.Omit.Contains(name)) w.AddTensorF32(name, [n], v);
        }

        // token_embd rows are looked up, not multiplied: unit-ish scale like trained embeddings.
        var emb = Uniform(rng, s.Embedding * vocab, 1f);
        if (!s.Omit.Contains("token_embd.weight")) AddWeight(w, "token_embd.weight", [s.Embedding, vocab], emb, s.WeightType);
        if (s.RopeFreqFactors is { } factors) w.AddTensorF32("rope_freqs.weight", [factors.Length], factors);
        for (var l = 0; l < s.Layers; l++)
        {
            var p = $"blk.{l}.";
            Vector(p + "attn_norm.weight", s.Embedding, 1f, 0.1f);
            Matrix(p + "attn_q.weight", s.Embedding, qDim);
            Matrix(p + "attn_k.weight", s.Embedding, kvDim);
            Matrix(p + "attn_v.weight", s.Embedding, kvDim);
            if (bias)
            {
                Vector(p + "attn_q.bias", qDim, 0f, 0.5f);
                Vector(p + "attn_k.bias", kvDim, 0f, 0.5f);
                Vector(p + "attn_v.bias", kvDim, 0f, 0.5f);
            }
            if (qkNorm)
            {
                Vector(p + "attn_q_norm.weight", headDim, 1f, 0.2f);
                Vector(p + "attn_k_norm.weight", headDim, 1f, 0.2f);
            }
            Matrix(p + "attn_output.weight", qDim, s.Embedding);
            Vector(p + "ffn_norm.weight", s.Embedding, 1f, 0.1f);
            Matrix(p + "ffn_gate.weight", s.Embedding, s.FeedForward);
            Matrix(p + "ffn_up.weight", s.Embedding, s.FeedForward);
            Matrix(p + "ffn_down.weight", s.FeedForward, s.Embedding);
        }
        Vector("output_norm.weight", s.Embedding, 1f, 0.1f);
        if (!s.TiedOutput) Matrix("output.weight", s.Embedding, vocab);
        return w;
    }

    private static void AddWeight(GgufWriter w, string name, long[] dims, float[] v, uint type)
    {
        switch (type)
        {
            case GgmlTypeCode.F32: w.AddTensorF32(name, dims, v); break;
            case GgmlTypeCode.F16: w.AddTensorF16(name, dims, v); break;
            case GgmlTypeCode.Q8_0: w.AddTensorRaw(name, dims, type, Quantize.Q8_0(v)); break;
            case GgmlTypeCode.Q4_0: w.AddTensorRaw(name, dims, type, Quantize.Q4_0(v)); break;
            default: throw new ArgumentException($"random weights of ggml type {type} are not generated (F32, F16, Q8_0, Q4_0 are)");
        }
    }

    private static float[] Uniform(Random rng, int n, float a)
    {
        var v = new float[n];
        for (var i = 0; i < n; i++) v[i] = (float)(rng.NextDouble() * 2 - 1) * a;
        return v;
    }

    /// <summary>Number of entries of <c>tokenizer.ggml.tokens</c> in a GGUF file.</summary>
    public static int TokenCount(string path)
    {
        var enc = GgufMetadataReader.ReadRaw(path).First(m => m.Key == "tokenizer.ggml.tokens").Encoded;
        // type (u32 = array), element type (u32), count (u64)
        return checked((int)BinaryPrimitives.ReadUInt64LittleEndian(enc.AsSpan(8)));
    }
}

/// <summary>ggml's reference quantizers for the two simplest block types (quantize_row_q8_0_ref / q4_0_ref).</summary>
public static class Quantize
{
    public static byte[] Q8_0(ReadOnlySpan<float> x)
    {
        if (x.Length % 32 != 0) throw new ArgumentException("Q8_0 needs whole blocks of 32");
        var o = new byte[x.Length / 32 * 34];
        for (var b = 0; b < x.Length / 32; b++)
        {
            var blk = x.Slice(b * 32, 32);
            float amax = 0;
            foreach (var v in blk) amax = MathF.Max(amax, MathF.Abs(v));
            var d = amax / 127f;
            var id = d != 0 ? 1f / d : 0f;
            BinaryPrimitives.WriteHalfLittleEndian(o.AsSpan(b * 34), (Half)d);
            for (var j = 0; j < 32; j++) o[b * 34 + 2 + j] = (byte)(sbyte)MathF.Round(blk[j] * id);
        }
        return o;
    }

    public static byte[] Q4_0(ReadOnlySpan<float> x)
    {
        if (x.Length % 32 != 0) throw new ArgumentException("Q4_0 needs whole blocks of 32");
        var o = new byte[x.Length / 32 * 18];
        for (var b = 0; b < x.Length / 32; b++)
        {
            var blk = x.Slice(b * 32, 32);
            float amax = 0, max = 0;
            foreach (var v in blk)
                if (MathF.Abs(v) > amax) { amax = MathF.Abs(v); max = v; }
            var d = max / -8f;
            var id = d != 0 ? 1f / d : 0f;
            BinaryPrimitives.WriteHalfLittleEndian(o.AsSpan(b * 18), (Half)d);
            for (var j = 0; j < 16; j++)
            {
                var x0 = (byte)Math.Min(15, (int)(blk[j] * id + 8.5f));
                var x1 = (byte)Math.Min(15, (int)(blk[j + 16] * id + 8.5f));
                o[b * 18 + 2 + j] = (byte)(x0 | (x1 << 4));
            }
        }
        return o;
    }
}
