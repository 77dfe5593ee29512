using Rbee.Testing.Gguf;
using Rbee.Worker.Model;

namespace Rbee.Worker.Tests.Model;

/// <summary>
/// Batch invariance of <see cref="BatchDecoder"/>: several prompts decoded greedily together, joining and leaving the
/// batch at different steps, give bit for bit the logits (and so the tokens) each gives decoded alone with
/// <see cref="InferenceSession.Evaluate(int)"/>, for every weight type of the rand-small set and for generated models
/// with biases, q/k norms and GQA; and so do prompt chunks evaluated together in one pass.
/// </summary>
[Collection(AllocationCollection.Name)]
public sealed class BatchDecoderTests : IDisposable
{
    private const int Steps = 10;
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-batch-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> RandSmallFiles() =>
    [
        "rand-small-F32.gguf", "rand-small-F16.gguf", "rand-small-Q8_0.gguf", "rand-small-Q4_0.gguf",
        "rand-small-Q4_K_M.gguf", "rand-small-Q5_K_M.gguf", "rand-small-Q6_K.gguf",
    ];

    [Theory]
    [MemberData(nameof(RandSmallFiles))]
    public void RandSmall_BatchedGreedyDecode_IsBitIdenticalToAlone(string file)
    {
        using var model = LlamaModel.Load(ModelTestData.RandSmall(file).File);
        AssertBatchInvariant(model, ModelTestData.RandSmall(file).Prompt);
    }

    public static TheoryData<string, RandomLlamaSpec> Generated => new()
    {
        { "qwen2: q/k/v bias, tied output", new RandomLlamaSpec { Architecture = "qwen2", TiedOutput = true, Heads = 4, KvHeads = 2, Seed = 21 } },
        { "qwen3: q/k norms, head size 32", new RandomLlamaSpec { Architecture = "qwen3", Heads = 8, KvHeads = 2, HeadDim = 32, Seed = 22 } },
        { "llama Q8_0, GQA 4/1", new RandomLlamaSpec { Heads = 4, KvHeads = 1, WeightType = GgmlTypeCode.Q8_0, Seed = 23 } },
        // A feed-forward width that is no whole number of vectors: each sequence's gate keeps its own scalar tail.
        { "llama, feed-forward 100", new RandomLlamaSpec { FeedForward = 100, Seed = 24 } },
    };

    [Theory]
    [MemberData(nameof(Generated))]
    public void Generated_BatchedGreedyDecode_IsBitIdenticalToAlone(string name, RandomLlamaSpec spec)
    {
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}.gguf");
        RandomLlama.Write(path, spec);
        using var model = LlamaModel.Load(path);
        AssertBatchInvariant(model, [1, 17, 200, 33, 5, 99, 250, 3], name);
    }

    [Theory]
    [MemberData(nameof(RandSmallFiles))]
    public void RandSmall_PrefillTogether_IsBitIdenticalToAlone(string file)
    {
        using var model = LlamaModel.Load(ModelTestData.RandSmall(file).File);
        AssertPrefillInvariant(model, file);
    }

    [Theory]
    [MemberData(nameof(Generated))]
    public void Generated_PrefillTogether_IsBitIdenticalToAlone(string name, RandomLlamaSpec spec)
    {
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}.gguf");
        RandomLlama.Write(path, spec);
        using var model = LlamaModel.Load(path);
        AssertPrefillInvariant(model, name);
    }

    [Fact]
    public void PrefillTogether_TakesWholeTilesUpToOneStep_AndRefusesOthers()
    {
        using var model = LlamaModel.Load(ModelTestData.RandSmall("rand-small-Q8_0.gguf").File);
        var decoder = model.CreateBatchDecoder(2);
        Assert.Equal(model.Options.BatchSize, decoder.PrefillTokens);
        Assert.False(decoder.PrefillsTogether(7)); // alone, fewer than a tile go through other kernels
        Assert.False(decoder.PrefillsTogether(decoder.PrefillTokens + 1)); // alone, two forward steps
        var a = model.CreateSession(64);
        var b = model.CreateSession(64);
        var logits = new float[2 * model.Config.VocabSize];
        var ex = Assert.Throws<ArgumentException>(() => decoder.Prefill([a, b], new int[15], [8, 7], logits));
        Assert.Contains("evaluate it alone", ex.Message);
        Assert.Equal((0, 0), (a.Position, b.Position));
    }

    [Fact]
    public void PrefillWithAFullContext_FailsBeforeChangingAnySession()
    {
        using var model = LlamaModel.Load(ModelTestData.RandSmall("rand-small-Q8_0.gguf").File);
        var roomy = model.CreateSession(64);
        var small = model.CreateSession(11);
        roomy.Evaluate([1, 2]);
        small.Evaluate([1, 2]);
        var decoder = model.CreateBatchDecoder(2);
        var logits = new float[2 * model.Config.VocabSize];
        Assert.Throws<ContextFullException>(() => decoder.Prefill([roomy, small], Enumerable.Range(3, 20).ToArray(), [10, 10], logits));
        Assert.Equal((2, 2), (roomy.Position, small.Position));
        Assert.Equal([1, 2], small.Tokens.ToArray());
    }

    [Fact]
    public void PrefillPass_AllocatesNothing()
    {
        using var model = LlamaModel.Load(ModelTestData.RandSmall("rand-small-Q8_0.gguf").File);
        InferenceSession[] sessions = [model.CreateSession(64), model.CreateSession(64), model.CreateSession(64)];
        var tokens = Enumerable.Range(1, 40).ToArray();
        int[] lengths = [8, 12, 20];
        var decoder = model.CreateBatchDecoder(sessions.Length);
        var logits = new float[sessions.Length * model.Config.VocabSize];
        void Pass()
        {
            foreach (var s in sessions) s.Reset();
            decoder.Prefill(sessions, tokens, lengths, logits);
        }
        for (var i = 0; i < 4; i++) Pass(); // warm up (JIT, thread buffers, the prefill scratch)

        // The fewest bytes of three rounds: this thread also runs pool tasks, and one it meets for the first time sizes
        // its thread-static buffers once; an allocation per pass shows in every round.
        var fewest = long.MaxValue;
        for (var round = 0; round < 3; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 8; i++) Pass();
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, fewest);
    }

    [Fact]
    public void StepWithAFullContext_FailsBeforeChangingAnySession()
    {
        using var model = LlamaModel.Load(ModelTestData.RandSmall("rand-small-Q8_0.gguf").File);
        var roomy = model.CreateSession(16);
        var full = model.CreateSession(2);
        roomy.Evaluate([1, 2]);
        full.Evaluate([1, 2]);
        var decoder = model.CreateBatchDecoder(2);
        var logits = new float[2 * model.Config.VocabSize];
        Assert.Throws<ContextFullException>(() => decoder.Decode([roomy, full], [3, 3], logits));
        Assert.Equal((2, 2), (roomy.Position, full.Position));
    }

    [Fact]
    public void DecodeStep_AllocatesNothing()
    {
        using var model = LlamaModel.Load(ModelTestData.RandSmall("rand-small-Q8_0.gguf").File);
        var vocab = model.Config.VocabSize;
        InferenceSession[] sessions = [model.CreateSession(64), model.CreateSession(64), model.CreateSession(64)];
        int[] tokens = [5, 6, 7];
        for (var s = 0; s < sessions.Length; s++) sessions[s].Evaluate([1, 10 + s]);
        var decoder = model.CreateBatchDecoder(sessions.Length);
        var logits = new float[sessions.Length * vocab];
        for (var i = 0; i < 4; i++) decoder.Decode(sessions, tokens, logits); // warm up (JIT, thread buffers)

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 16; i++) decoder.Decode(sessions, tokens, logits);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    /// <summary>
    /// Four prompt chunks of 8, 13, 29 and 16 tokens (the last after a 5-token prefix already cached) evaluated in one
    /// <see cref="BatchDecoder.Prefill"/> pass give bit for bit the logits each gives evaluated alone, and leave the same
    /// cache: three greedy decode steps afterwards match too.
    /// </summary>
    private static void AssertPrefillInvariant(LlamaModel model, string name)
    {
        var vocab = model.Config.VocabSize;
        int[] lengths = [8, 13, 29, 16];
        var chunks = lengths.Select((n, i) => Enumerable.Range(0, n).Select(t => (1 + 31 * i + 7 * t) % vocab).ToArray()).ToArray();
        int[] prefix = [1, 5, 9, 2, 4];
        const int decodeSteps = 3;

        InferenceSession Fresh(int i)
        {
            var session = model.CreateSession(64);
            if (i == 3) session.Evaluate(prefix);
            return session;
        }

        var alone = new float[chunks.Length][][];
        for (var i = 0; i < chunks.Length; i++)
        {
            var session = Fresh(i);
            alone[i] = new float[decodeSteps + 1][];
            alone[i][0] = session.Evaluate(chunks[i]).ToArray();
            for (var k = 1; k <= decodeSteps; k++)
                alone[i][k] = session.Evaluate(ModelTestData.ArgMax(alone[i][k - 1])).ToArray();
        }

        var decoder = model.CreateBatchDecoder(chunks.Length);
        Assert.All(lengths, n => Assert.True(decoder.PrefillsTogether(n), $"{name}: a chunk of {n} should share a pass"));
        var sessions = Enumerable.Range(0, chunks.Length).Select(Fresh).ToArray();
        var rows = new float[chunks.Length * vocab];
        decoder.Prefill(sessions, chunks.SelectMany(c => c).ToArray(), lengths, rows);
        for (var i = 0; i < chunks.Length; i++)
        {
            Assert.Equal((i == 3 ? prefix.Concat(chunks[i]) : chunks[i]).ToArray(), sessions[i].Tokens.ToArray());
            var got = rows.AsSpan(i * vocab, vocab).ToArray();
            for (var k = 0; k <= decodeSteps; k++)
            {
                for (var v = 0; v < vocab; v++)
                    Assert.True(BitConverter.SingleToInt32Bits(alone[i][k][v]) == BitConverter.SingleToInt32Bits(got[v]),
                        $"{name} chunk {i} ({lengths[i]} tokens), step {k}: logit {v} alone {alone[i][k][v]:R}, together {got[v]:R}");
                if (k < decodeSteps) got = sessions[i].Evaluate(ModelTestData.ArgMax(got)).ToArray();
            }
        }
    }

    /// <summary>
    /// Four sequences from four different prompts (prefixes of <paramref name="basePrompt"/> with a different last
    /// token); sequence i joins the batch at step i and runs <see cref="Steps"/> steps, so passes hold 1, 2, 3, 4, then
    /// 3, 2, 1 sequences at different positions.
    /// </summary>
    private static void AssertBatchInvariant(LlamaModel model, int[] basePrompt, string name = "")
    {
        var vocab = model.Config.VocabSize;
        const int count = 4;
        var prompts = Enumerable.Range(0, count)
            .Select(i => basePrompt.Take(basePrompt.Length - i).Append(3 + 7 * i).ToArray()).ToArray();

        // Alone: prefill, then one token at a time.
        var alone = new float[count][][];
        var aloneTokens = new int[count][];
        for (var i = 0; i < count; i++)
        {
            var session = model.CreateSession(64);
            var logits = session.Evaluate(prompts[i]).ToArray();
            alone[i] = new float[Steps][];
            aloneTokens[i] = new int[Steps];
            for (var k = 0; k < Steps; k++)
            {
                var token = ModelTestData.ArgMax(logits);
                aloneTokens[i][k] = token;
                logits = session.Evaluate(token).ToArray();
                alone[i][k] = logits;
            }
        }

        // Batched: the same prefill, then steps shared by whoever is running.
        var sessions = new InferenceSession[count];
        var next = new int[count];
        var done = new int[count];
        for (var i = 0; i < count; i++)
        {
            sessions[i] = model.CreateSession(64);
            next[i] = ModelTestData.ArgMax(sessions[i].Evaluate(prompts[i]));
        }
        var decoder = model.CreateBatchDecoder(count);
        var rows = new float[count * vocab];
        for (var step = 0; step < Steps + count - 1; step++)
        {
            var running = Enumerable.Range(0, count).Where(i => i <= step && done[i] < Steps).ToArray();
            decoder.Decode(running.Select(i => sessions[i]).ToArray(), running.Select(i => next[i]).ToArray(), rows);
            for (var r = 0; r < running.Length; r++)
            {
                var i = running[r];
                var k = done[i]++;
                Assert.Equal(aloneTokens[i][k], next[i]);
                var got = rows.AsSpan(r * vocab, vocab);
                for (var v = 0; v < vocab; v++)
                    Assert.True(BitConverter.SingleToInt32Bits(alone[i][k][v]) == BitConverter.SingleToInt32Bits(got[v]),
                        $"{name} sequence {i}, step {k} in a pass of {running.Length}: logit {v} alone {alone[i][k][v]:R}, batched {got[v]:R}");
                next[i] = ModelTestData.ArgMax(got);
            }
        }
        Assert.All(done, d => Assert.Equal(Steps, d));
    }
}
