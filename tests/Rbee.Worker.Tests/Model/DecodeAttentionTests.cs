using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Rbee.Worker.Kernels;
using Rbee.Worker.Model;

namespace Rbee.Worker.Tests.Model;

/// <summary>
/// Decode attention (a KV head's query heads walking the cache together, rows widened once) must equal, bit for bit,
/// the per-head algorithm it replaced: one head at a time, each fp16 key and value row widened inside the dot and the
/// multiply-add. <see cref="ReferenceHead"/> is that algorithm as it was, kept here as the oracle.
/// </summary>
public sealed unsafe class DecodeAttentionTests
{
    [Theory]
    [InlineData(64, 16, 4, 0, 1)]     // bench shape, first token
    [InlineData(64, 16, 4, 895, 1)]   // bench shape at depth: the pool, a whole group per task
    [InlineData(64, 16, 4, 1023, 1)]
    [InlineData(128, 32, 8, 700, 1)]  // group of 4, head size 128
    [InlineData(128, 8, 1, 300, 1)]   // one KV head: the group is split so every thread gets a task
    [InlineData(64, 6, 2, 513, 1)]    // group of 3
    [InlineData(64, 8, 8, 400, 1)]    // no GQA
    [InlineData(40, 4, 2, 257, 1)]    // head size with a scalar tail (40 = 32 + 8)
    [InlineData(24, 4, 1, 90, 1)]     // head size below one 32-chunk: all-scalar dot
    [InlineData(64, 16, 4, 5, 1)]     // small: runs inline
    [InlineData(64, 16, 4, 600, 3)]   // a few tokens at once, still below the prompt path
    [InlineData(40, 6, 2, 33, 2)]
    public void DecodeAttention_EqualsPerHeadReference_BitForBit(int headDim, int heads, int kvHeads, int start, int n)
    {
        var c = Config(headDim, heads, kvHeads);
        var rng = new Random(headDim * 7919 + heads * 31 + start + n);
        // A cache with room past the positions in use, as a session's has: each KV head's rows start a whole
        // context apart.
        var context = start + n + 7;
        var keys = new Half[context * c.KvDim];
        var values = new Half[context * c.KvDim];
        for (var i = 0; i < keys.Length; i++)
        {
            // A spread of magnitudes, small values among them, so the fp16 rounding of the accumulator and its
            // rescaling when the maximum rises both matter.
            keys[i] = (Half)((rng.NextSingle() * 4 - 2) * (i % 7 == 0 ? 4 : 1));
            values[i] = (Half)((rng.NextSingle() * 4 - 2) * (i % 5 == 0 ? 1e-4f : 1));
        }
        var q = new float[n * c.QueryDim];
        for (var i = 0; i < q.Length; i++) q[i] = rng.NextSingle() * 6 - 3;

        var actual = new float[n * c.QueryDim];
        Attention.Run(q, keys, values, actual, n, start, c);

        var expected = new float[n * c.QueryDim];
        fixed (float* pq = q)
        fixed (Half* pk = keys)
        fixed (Half* pv = values)
        fixed (float* po = expected)
            for (var h = 0; h < heads; h++)
                ReferenceHead(pq, (ushort*)pk, (ushort*)pv, context, po, n, start, c, h);

        for (var i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"token {i / c.QueryDim}, head {i % c.QueryDim / headDim}, value {i % headDim}: reference {expected[i]:R}, decode {actual[i]:R}");
    }

    /// <summary>
    /// The accumulator's rounding (add and remove a power-of-two-scaled constant) against the integer rounding it
    /// replaced, over a sweep of float bit patterns: both signs, zeros, fp16 subnormals, ties, and magnitudes up to
    /// 2^40, far above anything an fp16 accumulator reaches.
    /// </summary>
    [Fact]
    public void AccumulatorRounding_EqualsVectorOpsRoundToHalf()
    {
        const uint top = 0x53800000; // 2^40
        var lanes = new uint[8];
        foreach (var sign in new[] { 0u, 0x80000000u })
            for (var b = 0u; b < top; b += 8 * 11)
            {
                for (var k = 0u; k < 8; k++) lanes[k] = sign | (b + k * 11);
                var x = Vector256.Create(lanes).AsSingle();
                var expected = VectorOps.RoundToHalf(x).AsUInt32();
                var actual = Attention.RoundToHalf(x).AsUInt32();
                // The sixteen-lane form used where 512-bit vectors run: the same values in either half.
                var wide = Attention.RoundToHalf(Vector512.Create(x, x)).AsUInt32();
                Assert.Equal(actual, wide.GetLower());
                Assert.Equal(actual, wide.GetUpper());
                if (expected != actual)
                    for (var k = 0; k < 8; k++)
                        Assert.True(expected[k] == actual[k],
                            $"x = {BitConverter.UInt32BitsToSingle(lanes[k]):R} (0x{lanes[k]:X8}): expected 0x{expected[k]:X8}, got 0x{actual[k]:X8}");
            }
        // Ties to even at the fp16 step, and at the subnormal step 2^-24, in both directions.
        foreach (var v in new[] { 1f + 1f / 2048, 1f + 3f / 2048, 3f * MathF.Pow(2, -25), 5f * MathF.Pow(2, -25), 65504f, 65520f })
            foreach (var x in new[] { v, -v })
                Assert.Equal(VectorOps.RoundToHalf(Vector256.Create(x)), Attention.RoundToHalf(Vector256.Create(x)));
    }

    private static ModelConfig Config(int headDim, int heads, int kvHeads) => new()
    {
        Architecture = "llama", EmbeddingLength = headDim * heads, Layers = 1, Heads = heads, KvHeads = kvHeads,
        HeadDim = headDim, FeedForwardLength = 4, VocabSize = 4, ContextLength = 4096, RmsEpsilon = 1e-5f,
        RopeStyle = RopeStyle.Normal, RopeFreqBase = 10000, RopeDimensions = headDim, RopeFreqScale = 1,
        QkvBias = false, QkNorm = false, TiedOutput = false,
    };

    // ---- The per-head decode attention as it was before the grouped kernel (Attention.HeadHalf), verbatim. ----

    // The cache is [KV head][position][head dim], a KV head's rows a context apart.
    internal static void ReferenceHead(float* qAll, ushort* keys, ushort* values, int context, float* output, int n, int start, ModelConfig c, int h)
    {
        var hd = c.HeadDim;
        var kvOff = (long)(h / (c.Heads / c.KvHeads)) * context * hd;
        var scale = 1f / MathF.Sqrt(hd);
        Span<float> q = stackalloc float[hd];
        Span<float> acc = stackalloc float[hd];
        for (var t = 0; t < n; t++)
        {
            var len = start + t + 1;
            new ReadOnlySpan<float>(qAll + (long)t * c.QueryDim + h * hd, hd).CopyTo(q);
            VectorOps.RoundToHalf(q);
            acc.Clear();
            float m = float.NegativeInfinity, s = 0;
            for (var p = 0; p < len; p++)
            {
                var score = DotF16(q, keys + (long)p * hd + kvOff) * scale;
                float ms = 1, vs = 1;
                if (score > m)
                {
                    ms = MathF.Exp(m - score);
                    m = score;
                    ScaleHalf(acc, ms);
                }
                else
                {
                    vs = MathF.Exp(score - m);
                }
                MadHalf(acc, values + (long)p * hd + kvOff, vs);
                s = s * ms + vs;
            }
            var o = new Span<float>(output + (long)t * c.QueryDim + h * hd, hd);
            var inv = s == 0 ? 0 : 1 / s;
            for (var i = 0; i < hd; i++) o[i] = acc[i] * inv;
        }
    }

    private static float DotF16(ReadOnlySpan<float> a, ushort* b)
    {
        var n = a.Length;
        var np = Vector256.IsHardwareAccelerated ? n & ~31 : 0;
        double sum = 0;
        if (np > 0)
        {
            var va = MemoryMarshal.Cast<float, Vector256<float>>(a[..np]);
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (var i = 0; i < va.Length; i += 4)
            {
                var bi = b + i * 8;
                s0 = Vector256.FusedMultiplyAdd(va[i], FastConvert.HalfToSingle8(Vector128.Load(bi)), s0);
                s1 = Vector256.FusedMultiplyAdd(va[i + 1], FastConvert.HalfToSingle8(Vector128.Load(bi + 8)), s1);
                s2 = Vector256.FusedMultiplyAdd(va[i + 2], FastConvert.HalfToSingle8(Vector128.Load(bi + 16)), s2);
                s3 = Vector256.FusedMultiplyAdd(va[i + 3], FastConvert.HalfToSingle8(Vector128.Load(bi + 24)), s3);
            }
            var r = (s0 + s2) + (s1 + s3);
            var h = r.GetLower() + r.GetUpper();
            sum = (h[0] + h[1]) + (h[2] + h[3]);
        }
        for (var i = np; i < n; i++) sum += (double)(a[i] * (float)BitConverter.UInt16BitsToHalf(b[i]));
        return (float)sum;
    }

    private static void ScaleHalf(Span<float> acc, float s)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var v = MemoryMarshal.Cast<float, Vector256<float>>(acc);
            var vs = Vector256.Create(s);
            for (var k = 0; k < v.Length; k++) v[k] = VectorOps.RoundToHalf(v[k] * vs);
            i = v.Length * Vector256<float>.Count;
        }
        for (; i < acc.Length; i++) acc[i] = (float)(Half)(acc[i] * s);
    }

    private static void MadHalf(Span<float> acc, ushort* x, float s)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var v = MemoryMarshal.Cast<float, Vector256<float>>(acc);
            var vs = Vector256.Create(s);
            for (var k = 0; k < v.Length; k++)
                v[k] = VectorOps.RoundToHalf(Vector256.FusedMultiplyAdd(FastConvert.HalfToSingle8(Vector128.Load(x + k * 8)), vs, v[k]));
            i = v.Length * Vector256<float>.Count;
        }
        for (; i < acc.Length; i++) acc[i] = (float)(Half)MathF.FusedMultiplyAdd((float)BitConverter.UInt16BitsToHalf(x[i]), s, acc[i]);
    }
}
