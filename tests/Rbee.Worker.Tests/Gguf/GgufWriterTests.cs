using Rbee.Testing;
using Rbee.Testing.Gguf;
using Rbee.Worker.Gguf;

namespace Rbee.Worker.Tests.Gguf;

/// <summary>The test-side GGUF writer, checked by reading its output back with the worker's reader.</summary>
public sealed class GgufWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-gguf-writer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public unsafe void EveryMetadataTypeAndTensorKind_RoundTrips(int alignment)
    {
        var path = Path.Combine(_dir, $"all-{alignment}.gguf");
        var f32 = Enumerable.Range(0, 12).Select(i => i * 0.5f - 3f).ToArray();
        var raw = Enumerable.Range(0, 34 * 2).Select(i => (byte)i).ToArray();
        new GgufWriter { Alignment = alignment }
            .Set("k.u8", (byte)200).Set("k.i8", (sbyte)-5).Set("k.u16", (ushort)60000).Set("k.i16", (short)-300)
            .Set("k.u32", 4000000000u).Set("k.i32", -7).Set("k.f32", 1.5f).Set("k.bool", true)
            .Set("k.str", "héllo").Set("k.u64", ulong.MaxValue / 4).Set("k.i64", -1L << 40).Set("k.f64", Math.PI)
            .Set("k.astr", ["a", "", "ccc"]).Set("k.af32", new[] { 1f, -2f }).Set("k.ai32", new[] { 3, -4 })
            .Set("k.au8", new byte[] { 9 }).Set("k.abool", new[] { true, false })
            .AddTensorF32("a", [3, 4], f32)
            .AddTensorF16("b", [12], f32)
            .AddTensorRaw("c", [64], GgmlTypeCode.Q8_0, raw)
            .Write(path);

        using var g = GgufFile.Open(path);
        Assert.Equal(3u, g.Version);
        Assert.Equal(alignment, g.Alignment);
        Assert.Equal(200, g.GetInt("k.u8"));
        Assert.Equal(-5, g.GetInt("k.i8"));
        Assert.Equal(60000, g.GetInt("k.u16"));
        Assert.Equal(-300, g.GetInt("k.i16"));
        Assert.Equal(4000000000L, g.GetInt("k.u32"));
        Assert.Equal(-7, g.GetInt("k.i32"));
        Assert.Equal(1.5, g.GetFloat("k.f32"));
        Assert.True(g.GetBool("k.bool"));
        Assert.Equal("héllo", g.GetString("k.str"));
        Assert.Equal((long)(ulong.MaxValue / 4), g.GetInt("k.u64"));
        Assert.Equal(-1L << 40, g.GetInt("k.i64"));
        Assert.Equal(Math.PI, g.GetFloat("k.f64"));
        Assert.Equal(["a", "", "ccc"], g.Get("k.astr")!.AsArray<string>());
        Assert.Equal([1f, -2f], g.Get("k.af32")!.AsArray<float>());
        Assert.Equal([3, -4], g.Get("k.ai32")!.AsArray<int>());
        Assert.Equal([(byte)9], g.Get("k.au8")!.AsArray<byte>());
        Assert.Equal([true, false], g.Get("k.abool")!.AsArray<bool>());

        var a = g.Tensor("a");
        Assert.Equal([3L, 4L], a.Dims);
        Assert.Equal(GgmlType.F32, a.Type);
        Assert.Equal(0, a.FileOffset % alignment);
        Assert.Equal(f32, new ReadOnlySpan<float>(a.Pointer, 12).ToArray());
        var b = g.Tensor("b");
        Assert.Equal(GgmlType.F16, b.Type);
        Assert.Equal(0, b.FileOffset % alignment);
        var halves = new ReadOnlySpan<Half>(b.Pointer, 12).ToArray().Select(h => (float)h).ToArray();
        Assert.Equal(f32, halves); // these values are exact in half precision
        var c = g.Tensor("c");
        Assert.Equal(GgmlType.Q8_0, c.Type);
        Assert.Equal(raw, c.Bytes.ToArray());
    }

    [Fact]
    public void CopyMetadataFrom_BringsARealTokenizer()
    {
        var vocab = RepoPaths.Model("vocab", "ggml-vocab-llama-spm.gguf");
        var path = Path.Combine(_dir, "rand-spm.gguf");
        RandomLlama.Write(path, new RandomLlamaSpec { VocabFrom = vocab, Embedding = 32, Heads = 2, KvHeads = 1, FeedForward = 64, Layers = 1 });

        using var src = GgufFile.Open(vocab);
        using var g = GgufFile.Open(path);
        var tokens = src.Get("tokenizer.ggml.tokens")!.AsArray<string>();
        Assert.Equal(tokens, g.Get("tokenizer.ggml.tokens")!.AsArray<string>());
        Assert.Equal(src.GetString("tokenizer.ggml.model"), g.GetString("tokenizer.ggml.model"));
        Assert.Equal([32L, tokens.Length], g.Tensor("token_embd.weight").Dims);
        Assert.Equal([32L, tokens.Length], g.Tensor("output.weight").Dims);
    }
}
