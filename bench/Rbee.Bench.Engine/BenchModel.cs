using Rbee.Testing;
using Rbee.Testing.Gguf;
using Rbee.Worker.Gguf;
using Rbee.Worker.Kernels;

namespace Rbee.Bench.Engine;

/// <summary>Shape of a generated llama model (the defaults are the benchmark's ~246M-parameter shape).</summary>
internal sealed record BenchShape(int Dim, int Layers, int Heads, int KvHeads, int Ffn, int Context)
{
    public static BenchShape Full { get; } = new(1024, 16, 16, 4, 2816, 1024);
    public static BenchShape Quick { get; } = new(256, 2, 4, 2, 768, 256);
    public string Name => $"llama-{Dim}x{Layers}-ffn{Ffn}";
}

/// <summary>
/// Writes random-weight llama GGUFs with llama.cpp's tensor names and metadata and the real Llama-2 SentencePiece
/// vocabulary, in the tensor-type mix llama.cpp's quantizer picks for each file type (Q4_K_M: Q6_K for the output
/// and for attn_v/ffn_down of the layers its use_more_bits rule selects). Cached under ~/.cache/rbee/bench/.
/// </summary>
internal static class BenchModel
{
    public static readonly string[] FileTypes = ["F16", "Q8_0", "Q4_0", "Q4_K_M"];

    public static string CacheDir => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "rbee", "bench");

    public static string EnsureFile(BenchShape shape, string fileType, Action<string> log)
    {
        Directory.CreateDirectory(CacheDir);
        var path = Path.Combine(CacheDir, $"{shape.Name}-{fileType}.gguf");
        if (File.Exists(path)) return path;
        log($"generating {path} ...");
        var tmp = path + ".tmp";
        Build(shape, fileType).Write(tmp);
        File.Move(tmp, path, overwrite: true);
        return path;
    }

    private static GgmlType TypeOf(string fileType, string tensor, int layer, int layers)
    {
        switch (fileType)
        {
            case "F16": return GgmlType.F16;
            case "Q8_0": return GgmlType.Q8_0;
            case "Q4_0": return tensor == "output" ? GgmlType.Q6_K : GgmlType.Q4_0;
            case "Q4_K_M":
                if (tensor == "output") return GgmlType.Q6_K;
                if (tensor is "attn_v" or "ffn_down")
                {
                    // llama.cpp's use_more_bits: first and last eighth of the layers, and every third in between.
                    var more = layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
                    if (more) return GgmlType.Q6_K;
                }
                return GgmlType.Q4_K;
            default: throw new ArgumentException($"unknown file type {fileType} (F16, Q8_0, Q4_0, Q4_K_M)");
        }
    }

    private static GgufWriter Build(BenchShape s, string fileType)
    {
        var vocabPath = RepoPaths.Model("vocab", "ggml-vocab-llama-spm.gguf");
        var vocab = RandomLlama.TokenCount(vocabPath);
        var w = new GgufWriter();
        w.Set("general.architecture", "llama");
        w.Set("general.name", $"rbee-bench-{s.Name}-{fileType}");
        w.Set("llama.context_length", (uint)s.Context);
        w.Set("llama.embedding_length", (uint)s.Dim);
        w.Set("llama.block_count", (uint)s.Layers);
        w.Set("llama.feed_forward_length", (uint)s.Ffn);
        w.Set("llama.attention.head_count", (uint)s.Heads);
        w.Set("llama.attention.head_count_kv", (uint)s.KvHeads);
        w.Set("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        w.Set("llama.rope.freq_base", 10000f);
        w.Set("llama.rope.dimension_count", (uint)(s.Dim / s.Heads));
        w.CopyMetadataFrom(vocabPath, "tokenizer.");
        var kvDim = s.Dim / s.Heads * s.KvHeads;
        var seed = 1;

        void Matrix(string name, string role, int layer, int cols, int rows, float amplitude)
        {
            var type = TypeOf(fileType, role, layer, s.Layers);
            w.AddTensorRaw(name, [cols, rows], (uint)type, Encode(type, cols, rows, amplitude, seed++));
        }
        void Norm(string name, int n)
        {
            var v = new float[n];
            var rng = new Random(seed++);
            for (var i = 0; i < n; i++) v[i] = 1f + (float)(rng.NextDouble() - 0.5) * 0.2f;
            w.AddTensorF32(name, [n], v);
        }

        Matrix("token_embd.weight", "token_embd", 0, s.Dim, vocab, 1f);
        for (var l = 0; l < s.Layers; l++)
        {
            var p = $"blk.{l}.";
            Norm(p + "attn_norm.weight", s.Dim);
            Matrix(p + "attn_q.weight", "attn_q", l, s.Dim, s.Dim, 1 / MathF.Sqrt(s.Dim));
            Matrix(p + "attn_k.weight", "attn_k", l, s.Dim, kvDim, 1 / MathF.Sqrt(s.Dim));
            Matrix(p + "attn_v.weight", "attn_v", l, s.Dim, kvDim, 1 / MathF.Sqrt(s.Dim));
            Matrix(p + "attn_output.weight", "attn_output", l, s.Dim, s.Dim, 1 / MathF.Sqrt(s.Dim));
            Norm(p + "ffn_norm.weight", s.Dim);
            Matrix(p + "ffn_gate.weight", "ffn_gate", l, s.Dim, s.Ffn, 1 / MathF.Sqrt(s.Dim));
            Matrix(p + "ffn_up.weight", "ffn_up", l, s.Dim, s.Ffn, 1 / MathF.Sqrt(s.Dim));
            Matrix(p + "ffn_down.weight", "ffn_down", l, s.Ffn, s.Dim, 1 / MathF.Sqrt(s.Ffn));
        }
        Norm("output_norm.weight", s.Dim);
        Matrix("output.weight", "output", 0, s.Dim, vocab, 1 / MathF.Sqrt(s.Dim));
        return w;
    }

    /// <summary>Uniform random rows in ±amplitude, encoded row by row (rows in parallel: setup, not measured).</summary>
    private static byte[] Encode(GgmlType type, int cols, int rows, float amplitude, int seed)
    {
        var rowBytes = (int)GgmlTypeInfo.RowBytes(type, cols);
        var data = new byte[(long)rowBytes * rows];
        Parallel.For(0, rows, () => new float[cols], (r, _, row) =>
        {
            var state = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)(r + 1) * 0xBF58476D1CE4E5B9UL);
            for (var c = 0; c < cols; c++)
            {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                row[c] = ((state >> 40) / (float)(1 << 24) * 2 - 1) * amplitude;
            }
            Rbee.Worker.Kernels.Quantize.Row(type, row, data.AsSpan(r * rowBytes, rowBytes));
            return row;
        }, _ => { });
        return data;
    }

    /// <summary>Bytes one decode step reads: every matrix but the embedding table (one row of it is looked up).</summary>
    public static long DecodeWeightBytes(GgufFile f) =>
        f.Tensors.Where(t => t.Dims.Length == 2 && t.Name != "token_embd.weight").Sum(t => t.ByteLength);

    public static long Parameters(GgufFile f) => f.Tensors.Sum(t => t.ElementCount);
}
