using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rbee.Worker.Model;

namespace Rbee.Worker.Tests.Model;

/// <summary>
/// A prompt chunk of <see cref="Attention.TiledFrom"/> tokens or more runs tiled in float32 (as llama.cpp's tiled CPU
/// flash attention does): it must be causal attention over the fp16 cache to float32 accuracy, and each token's output
/// must not depend on how the prompt was cut into chunks.
/// </summary>
public sealed class TiledAttentionTests
{
    [SkippableTheory]
    [InlineData(64, 16, 4, 0, 64)]    // bench shape, exactly one query tile's worth
    [InlineData(64, 16, 4, 0, 130)]   // a partial last position tile and a partial last row group
    [InlineData(64, 8, 2, 37, 70)]    // after a cached prefix that ends inside a position tile
    [InlineData(128, 8, 8, 5, 65)]    // no GQA: a row group holds four different tokens, each with its own mask
    [InlineData(32, 6, 2, 100, 67)]   // group of 3: rows of one group cross tokens
    [InlineData(96, 4, 1, 0, 64)]     // head size of three 32-value chunks, one KV head
    public void TiledAttention_EqualsDoublePrecisionAttention(int headDim, int heads, int kvHeads, int start, int n)
    {
        Skip.IfNot(Avx2.IsSupported && Fma.IsSupported, "the tiled path needs AVX2 and FMA; without them prompts take the one-token kernel");
        var c = Config(headDim, heads, kvHeads);
        var (q, keys, values) = Inputs(c, start + n, n, seed: headDim * 131 + heads * 7 + start + n);

        var actual = new float[n * c.QueryDim];
        Attention.Run(q, keys, values, actual, n, start, c);

        var group = heads / kvHeads;
        var scale = 1 / Math.Sqrt(headDim);
        var worst = 0.0;
        for (var t = 0; t < n; t++)
        for (var h = 0; h < heads; h++)
        {
            var kv = h / group;
            var visible = start + t + 1;
            var scores = new double[visible];
            var max = double.NegativeInfinity;
            for (var p = 0; p < visible; p++)
            {
                double dot = 0;
                for (var i = 0; i < headDim; i++)
                    dot += (double)q[t * c.QueryDim + h * headDim + i] * (double)keys[Attention.CacheIndex(c, start + n, kv, p, i)];
                scores[p] = dot * scale;
                max = Math.Max(max, scores[p]);
            }
            double sum = 0;
            for (var p = 0; p < visible; p++) sum += scores[p] = Math.Exp(scores[p] - max);
            for (var i = 0; i < headDim; i++)
            {
                double expected = 0;
                for (var p = 0; p < visible; p++) expected += scores[p] / sum * (double)values[Attention.CacheIndex(c, start + n, kv, p, i)];
                var got = actual[t * c.QueryDim + h * headDim + i];
                worst = Math.Max(worst, Math.Abs(got - expected));
                Assert.True(Math.Abs(got - expected) <= 2e-5, $"token {t}, head {h}, value {i}: tiled {got:R}, float64 {expected:R}");
            }
        }
        // The fp16-accumulating one-token kernel lands 3e-5 to 4e-4 away on these inputs: the bound above tells them apart.
        Assert.True(worst < 2e-5, $"worst difference {worst}");
    }

    [SkippableTheory]
    [InlineData(64, 16, 4, 150, 64)]  // cut after 64 tokens: a cut inside a position tile
    [InlineData(64, 8, 8, 200, 96)]   // no GQA, cut on a position-tile boundary
    [InlineData(128, 8, 2, 133, 69)]
    public void TiledAttention_GivesTheSameBits_HoweverThePromptIsCut(int headDim, int heads, int kvHeads, int n, int cut)
    {
        Skip.IfNot(Avx2.IsSupported && Fma.IsSupported, "the tiled path needs AVX2 and FMA");
        var c = Config(headDim, heads, kvHeads);
        var (q, keys, values) = Inputs(c, n, n, seed: n * 17 + cut);

        var whole = new float[n * c.QueryDim];
        Attention.Run(q, keys, values, whole, n, 0, c);
        var pieces = new float[n * c.QueryDim];
        var d = c.QueryDim;
        Attention.Run(q.AsSpan(0, cut * d), keys, values, pieces.AsSpan(0, cut * d), cut, 0, c);
        Attention.Run(q.AsSpan(cut * d), keys, values, pieces.AsSpan(cut * d), n - cut, cut, c);

        for (var i = 0; i < whole.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(whole[i]) == BitConverter.SingleToInt32Bits(pieces[i]),
                $"token {i / d}, value {i % d}: whole {whole[i]:R}, in two chunks {pieces[i]:R}");
    }

    /// <summary>The tiled softmax's exponential against the double-precision one over its whole range (x ≤ 0): within
    /// 2.5e-7 relative (a few float ulps), 0 for −∞ and below −87.3, exactly 1 at 0.</summary>
    [SkippableFact]
    public void ExpNegative_IsExpToFloatPrecision()
    {
        Skip.IfNot(Avx2.IsSupported && Fma.IsSupported, "the tiled path needs AVX2 and FMA");
        var worst = 0.0;
        for (var bits = 0u; bits <= BitConverter.SingleToUInt32Bits(87.3f); bits += 1009)
        {
            var x = -BitConverter.UInt32BitsToSingle(bits);
            var got = Attention.ExpNegative(Vector256.Create(x)).ToScalar();
            var want = Math.Exp(x);
            var error = Math.Abs(got - want) / want;
            worst = Math.Max(worst, error);
            Assert.True(error <= 2.5e-7, $"e^{x:R}: {got:R}, float64 {want:R} (relative error {error:E2})");
        }
        Assert.Equal(1f, Attention.ExpNegative(Vector256<float>.Zero).ToScalar());
        Assert.Equal(0f, Attention.ExpNegative(Vector256.Create(float.NegativeInfinity)).ToScalar());
        Assert.Equal(0f, Attention.ExpNegative(Vector256.Create(-88f)).ToScalar());
        Assert.True(worst > 0, "the sweep ran");
    }

    private static (float[] Q, Half[] Keys, Half[] Values) Inputs(ModelConfig c, int context, int n, int seed) =>
        PrefillAttentionTests.Inputs(c, context, n, seed);

    private static ModelConfig Config(int headDim, int heads, int kvHeads) => PrefillAttentionTests.Config(headDim, heads, kvHeads);
}
