using Rbee.Worker.Model;

namespace Rbee.Worker.Tests.Model;

/// <summary>
/// The real tiny model must decode exactly as llama.cpp and llama2.c do: greedy from "Echoes" gives the 64 reference
/// ids, then 429 (models README). Any error in norm, RoPE, attention or SwiGLU changes these ids.
/// </summary>
public sealed class AidreamsGreedyTests
{
    private const int NextAfterReference = 429;

    [Fact]
    public void Config_IsReadFromMetadata()
    {
        using var model = LlamaModel.Load(ModelTestData.Aidreams);
        var c = model.Config;
        Assert.Equal("llama", c.Architecture);
        Assert.Equal((64, 4, 4, 4, 16, 172, 512, 128), (c.EmbeddingLength, c.Layers, c.Heads, c.KvHeads, c.HeadDim, c.FeedForwardLength, c.VocabSize, c.ContextLength));
        Assert.Equal(RopeStyle.Normal, c.RopeStyle);
        Assert.Equal(16, c.RopeDimensions);
        Assert.Equal(1e-5f, c.RmsEpsilon);
        Assert.False(c.TiedOutput);
        Assert.False(c.QkvBias);
    }

    [Fact]
    public void Greedy_OneTokenAtATime_ReproducesReference()
    {
        var (prompt, expected) = ModelTestData.AidreamsReference();
        using var model = LlamaModel.Load(ModelTestData.Aidreams);
        var session = model.CreateSession(128);
        ReadOnlySpan<float> logits = default;
        foreach (var t in prompt) logits = session.Evaluate(t);
        Assert.Equal(expected.Append(NextAfterReference), Decode(session, logits, expected.Length + 1));
        Assert.Equal(prompt.Length + expected.Length, session.Position);
    }

    [Fact]
    public void Greedy_BatchedPrefill_ReproducesReference()
    {
        var (prompt, expected) = ModelTestData.AidreamsReference();
        using var model = LlamaModel.Load(ModelTestData.Aidreams);
        var session = model.CreateSession(128);
        var logits = session.Evaluate(prompt);
        Assert.Equal(expected.Append(NextAfterReference), Decode(session, logits, expected.Length + 1));
    }

    [Fact]
    public void Truncate_ReusesThePromptPrefix()
    {
        var (prompt, expected) = ModelTestData.AidreamsReference();
        using var model = LlamaModel.Load(ModelTestData.Aidreams);
        var session = model.CreateSession(128);
        session.Evaluate(prompt);
        Decode(session, session.Evaluate([expected[0]]), 10);
        session.Truncate(prompt.Length - 1);
        var logits = session.Evaluate([prompt[^1]]);
        Assert.Equal(expected.Take(20), Decode(session, logits, 20));

        session.Reset();
        Assert.Equal(0, session.Position);
        Assert.Equal(expected.Take(5), Decode(session, session.Evaluate(prompt), 5));
    }

    /// <summary>Greedy: take the argmax, feed it, <paramref name="count"/> times.</summary>
    internal static List<int> Decode(InferenceSession session, ReadOnlySpan<float> logits, int count)
    {
        var ids = new List<int>(count);
        for (var i = 0; i < count; i++)
        {
            var id = ModelTestData.ArgMax(logits);
            ids.Add(id);
            if (i + 1 < count) logits = session.Evaluate(id);
        }
        return ids;
    }
}

/// <summary>Prompt-prefix reuse: a follow-up prompt evaluates only what is new and decodes as if from scratch.</summary>
public sealed class PrefixReuseTests
{
    [Fact]
    public void ReusePrefix_EvaluatesOnlyTheNewTokens()
    {
        var (prompt, expected) = ModelTestData.AidreamsReference();
        using var model = LlamaModel.Load(ModelTestData.Aidreams);
        var session = model.CreateSession();
        session.Evaluate([.. prompt, .. expected.Take(10)]);
        Assert.Equal([.. prompt, .. expected.Take(10)], session.Tokens.ToArray());

        // Same prompt plus a longer continuation: the 14 cached tokens are kept.
        int[] next = [.. prompt, .. expected.Take(20)];
        var reused = session.ReusePrefix(next);
        Assert.Equal(14, reused);
        var logits = session.Evaluate(next.AsSpan(reused));
        Assert.Equal(expected.Skip(20).Take(10), AidreamsGreedyTests.Decode(session, logits, 10));

        // The identical prompt again: all but its last token are reused, so logits are fresh.
        session.Truncate(prompt.Length);
        Assert.Equal(prompt.Length - 1, session.ReusePrefix(prompt));
        Assert.Equal(expected.Take(10), AidreamsGreedyTests.Decode(session, session.Evaluate(prompt.AsSpan(prompt.Length - 1)), 10));

        // A diverging prompt keeps only the common part.
        Assert.Equal(1, session.ReusePrefix([1, 42, 43]));
        Assert.Equal(1, session.Position);
    }
}
