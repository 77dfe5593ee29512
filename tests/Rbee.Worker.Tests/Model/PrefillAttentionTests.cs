using Rbee.Worker.Model;

namespace Rbee.Worker.Tests.Model;

/// <summary>
/// A prompt's attention below <see cref="Attention.TiledFrom"/> tokens (many new tokens, keys and values widened to
/// float once per head) must equal, bit for bit, the one-token steps decode takes over the fp16 cache: same products,
/// same order, same fp16 roundings. Longer prompt chunks run tiled in float32 (<see cref="TiledAttentionTests"/>).
/// </summary>
public sealed class PrefillAttentionTests
{
    [Theory]
    [InlineData(64, 16, 4, 0, 37)]   // head size a multiple of 32, empty cache, odd prompt
    [InlineData(64, 8, 2, 11, 5)]    // tokens appended after a cached prefix
    [InlineData(40, 4, 4, 3, 9)]     // head size with a scalar tail (40 = 32 + 8)
    [InlineData(24, 2, 1, 0, 6)]     // head size below one 32-chunk: all-scalar dot
    public void PromptAttention_EqualsOneTokenSteps_BitForBit(int headDim, int heads, int kvHeads, int start, int n)
    {
        var c = Config(headDim, heads, kvHeads);
        var (q, keys, values) = Inputs(c, start + n, n, seed: headDim * 1000 + n);

        var prompt = new float[n * c.QueryDim];
        Attention.Run(q, keys, values, prompt, n, start, c);

        var step = new float[c.QueryDim];
        for (var t = 0; t < n; t++)
        {
            Attention.Run(q.AsSpan(t * c.QueryDim, c.QueryDim), keys, values, step, 1, start + t, c);
            for (var i = 0; i < c.QueryDim; i++)
                Assert.True(BitConverter.SingleToInt32Bits(step[i]) == BitConverter.SingleToInt32Bits(prompt[t * c.QueryDim + i]),
                    $"token {t}, value {i}: prompt {prompt[t * c.QueryDim + i]:R}, one-token step {step[i]:R}");
        }
    }

    /// <summary>A cache of <paramref name="context"/> positions (keys and values uniform in [−2, 2), as fp16) and
    /// <paramref name="n"/> tokens' queries (uniform in [−3, 3)), drawn in that order from one seeded generator.</summary>
    internal static (float[] Q, Half[] Keys, Half[] Values) Inputs(ModelConfig c, int context, int n, int seed)
    {
        var rng = new Random(seed);
        var keys = new Half[context * c.KvDim];
        var values = new Half[context * c.KvDim];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = (Half)(rng.NextSingle() * 4 - 2);
            values[i] = (Half)(rng.NextSingle() * 4 - 2);
        }
        var q = new float[n * c.QueryDim];
        for (var i = 0; i < q.Length; i++) q[i] = rng.NextSingle() * 6 - 3;
        return (q, keys, values);
    }

    internal static ModelConfig Config(int headDim, int heads, int kvHeads) => new()
    {
        Architecture = "llama", EmbeddingLength = headDim * heads, Layers = 1, Heads = heads, KvHeads = kvHeads,
        HeadDim = headDim, FeedForwardLength = 4, VocabSize = 4, ContextLength = 4096, RmsEpsilon = 1e-5f,
        RopeStyle = RopeStyle.Normal, RopeFreqBase = 10000, RopeDimensions = headDim, RopeFreqScale = 1,
        QkvBias = false, QkNorm = false, TiedOutput = false,
    };
}
