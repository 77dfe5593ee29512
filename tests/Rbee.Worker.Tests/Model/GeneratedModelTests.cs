using Rbee.Testing.Gguf;
using Rbee.Worker.Gguf;
using Rbee.Worker.Model;

namespace Rbee.Worker.Tests.Model;

/// <summary>
/// Random-weight models written by the test GGUF writer, checked against <see cref="ReferenceForward"/>: qwen2
/// (q/k/v bias, NeoX RoPE, tied output), llama with GQA, partial and linearly scaled RoPE, and chunked prefill.
/// </summary>
public sealed class GeneratedModelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-model-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(RandomLlamaSpec spec)
    {
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}.gguf");
        RandomLlama.Write(path, spec);
        return path;
    }

    private static readonly int[] Tokens = [1, 17, 200, 33, 5, 99, 250, 3, 3, 64, 128, 7];

    public static TheoryData<string, RandomLlamaSpec> Shapes => new()
    {
        { "qwen2: bias, NeoX, tied output", new RandomLlamaSpec { Architecture = "qwen2", TiedOutput = true, RopeFreqBase = 1000000f, Heads = 4, KvHeads = 2, Seed = 3 } },
        { "llama: GQA 4/1", new RandomLlamaSpec { Heads = 4, KvHeads = 1, Seed = 4 } },
        { "llama: partial rope, linear scaling x4", new RandomLlamaSpec { RopeDimensions = 8, RopeLinearScale = 4f, Seed = 5 } },
        { "qwen3: per-head q/k norm, NeoX", new RandomLlamaSpec { Architecture = "qwen3", Heads = 4, KvHeads = 2, RopeFreqBase = 1000000f, Seed = 7 } },
        { "llama: rope_freqs factors (Llama 3.1)", new RandomLlamaSpec { RopeFreqFactors = [1f, 1f, 2f, 4f, 8f, 8f, 16f, 32f], Seed = 8 } },
        { "qwen3: head size 32 ≠ n_embd/n_head (q dim 256 > n_embd 64)", new RandomLlamaSpec { Architecture = "qwen3", Heads = 8, KvHeads = 2, HeadDim = 32, Seed = 10 } },
        { "llama: with q/k/v bias", new RandomLlamaSpec { QkvBias = true, Heads = 8, KvHeads = 8, Seed = 6 } },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Logits_MatchTheReferenceForwardPass(string name, RandomLlamaSpec spec)
    {
        var path = Write(spec);
        using var model = LlamaModel.Load(path, new ModelLoadOptions { BatchSize = 5 }); // 12 tokens: 3 prefill steps
        var c = model.Config;
        Assert.Equal(spec.Architecture is "qwen2" or "qwen3" ? RopeStyle.NeoX : RopeStyle.Normal, c.RopeStyle);
        Assert.Equal(spec.TiedOutput, c.TiedOutput);
        Assert.Equal(spec.QkvBias ?? spec.Architecture == "qwen2", c.QkvBias);
        Assert.Equal(spec.HeadDim ?? spec.Embedding / spec.Heads, c.HeadDim);
        Assert.Equal(spec.RopeDimensions ?? c.HeadDim, c.RopeDimensions);
        Assert.Equal(1f / (spec.RopeLinearScale ?? 1f), c.RopeFreqScale);
        Assert.Equal(spec.QkNorm ?? spec.Architecture == "qwen3", c.QkNorm);

        var hyper = new ReferenceForward.Hyper(spec.Embedding, spec.Layers, spec.Heads, spec.KvHeads, spec.FeedForward,
            spec.RmsEpsilon, c.RopeStyle == RopeStyle.NeoX, c.RopeDimensions, spec.RopeFreqBase, 1.0 / (spec.RopeLinearScale ?? 1.0), spec.RopeFreqFactors, spec.HeadDim);
        double[][] expected;
        using (var f = GgufFile.Open(path)) expected = ReferenceForward.Run(f, hyper, Tokens);

        var all = model.CreateSession().EvaluateAll(Tokens);
        var vocab = c.VocabSize;
        for (var t = 0; t < Tokens.Length; t++)
            for (var i = 0; i < vocab; i++)
                Assert.True(Math.Abs(all[t * vocab + i] - expected[t][i]) < 1e-3,
                    $"{name}: position {t} logit {i}: {all[t * vocab + i]} vs reference {expected[t][i]}");
    }

    [Fact]
    public void NeoXAndNormalRope_GiveDifferentResults()
    {
        // Same weights, only the pairing differs: a test of the reference above that cannot pass by accident.
        var llama = Write(new RandomLlamaSpec { Architecture = "llama", QkvBias = true, Seed = 9 });
        var qwen = Write(new RandomLlamaSpec { Architecture = "qwen2", QkvBias = true, Seed = 9 });
        using var a = LlamaModel.Load(llama);
        using var b = LlamaModel.Load(qwen);
        var la = a.CreateSession().EvaluateAll(Tokens);
        var lb = b.CreateSession().EvaluateAll(Tokens);
        Assert.Equal(la.AsSpan(0, a.Config.VocabSize).ToArray(), lb.AsSpan(0, b.Config.VocabSize).ToArray()); // position 0: no rotation
        Assert.True(la.Zip(lb).Max(p => Math.Abs(p.First - p.Second)) > 1e-2);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(64)]
    public void BatchedPrefill_EqualsTokenByToken(int batchSize)
    {
        var path = Write(new RandomLlamaSpec { Heads = 8, KvHeads = 2, Embedding = 128, FeedForward = 256, Layers = 3, Seed = 11 });
        using var model = LlamaModel.Load(path, new ModelLoadOptions { BatchSize = batchSize });
        var vocab = model.Config.VocabSize;
        var batched = model.CreateSession().EvaluateAll(Tokens);
        var lastOnly = model.CreateSession().Evaluate(Tokens).ToArray();

        var single = model.CreateSession();
        for (var t = 0; t < Tokens.Length; t++)
        {
            var logits = single.Evaluate(Tokens[t]);
            for (var i = 0; i < vocab; i++)
                Assert.True(Math.Abs(logits[i] - batched[t * vocab + i]) <= 1e-4, $"position {t} logit {i}: {logits[i]} vs batched {batched[t * vocab + i]}");
        }
        Assert.Equal(batched.AsSpan((Tokens.Length - 1) * vocab).ToArray(), lastOnly);
    }

    [Fact]
    public void F16AndQ8_0Weights_StayCloseToF32()
    {
        var spec = new RandomLlamaSpec { Seed = 12 };
        using var f32 = LlamaModel.Load(Write(spec));
        using var f16 = LlamaModel.Load(Write(spec with { WeightType = GgmlTypeCode.F16 }));
        using var q8 = LlamaModel.Load(Write(spec with { WeightType = GgmlTypeCode.Q8_0 }));
        var a = f32.CreateSession().EvaluateAll(Tokens);
        var b = f16.CreateSession().EvaluateAll(Tokens);
        var c = q8.CreateSession().EvaluateAll(Tokens);
        Assert.True(a.Zip(b).Max(p => Math.Abs(p.First - p.Second)) < 0.01);
        Assert.True(a.Zip(c).Max(p => Math.Abs(p.First - p.Second)) < 0.05);
        Assert.True(a.Zip(c).Max(p => Math.Abs(p.First - p.Second)) > 0); // really quantized
    }
}

/// <summary>Issue 5: weights stay in the mapping ("a 4 GB model must not need 8 GB of RAM").</summary>
public sealed class WeightMappingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-model-map-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Load_CopiesNoWeightMatrixIntoTheHeap()
    {
        var path = Path.Combine(_dir, "big.gguf");
        RandomLlama.Write(path, new RandomLlamaSpec { Embedding = 512, FeedForward = 1536, Layers = 4, Heads = 8, KvHeads = 8, Vocab = 4096 });
        var fileBytes = new FileInfo(path).Length;
        Assert.True(fileBytes > 60_000_000, $"test model is only {fileBytes} bytes");

        var before = GC.GetAllocatedBytesForCurrentThread();
        using var model = LlamaModel.Load(path);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // Metadata (a 4096-token vocabulary) and the norm vectors only: far below one weight matrix (1 MB).
        Assert.True(allocated < 1_000_000, $"loading a {fileBytes}-byte model allocated {allocated} bytes");
        Assert.Equal(4096, model.CreateSession(16).Evaluate([1, 2, 3]).Length); // and it runs from the mapping
    }
}
