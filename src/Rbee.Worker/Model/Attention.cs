using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Model;

/// <summary>
/// Causal multi-head attention over a session's KV cache, for a batch of new tokens whose keys and values are
/// already in the cache. Heads are independent, so they are split over the kernels' <see cref="ComputePool"/>
/// (one task per head); small problems run inline, where posting a job would cost more than it saves.
/// <para>
/// Computed as llama.cpp's CPU flash attention (on by default there), rounding for rounding: keys and values are
/// fp16 (the cache stores them so), the query is rounded to fp16, the softmax is taken online, and the
/// weighted sum of values is accumulated in fp16. That last rounding moves logits by ~1e-3, and the 8-bit
/// activation quantization of the next matrix product turns differences that small into whole rounding steps:
/// without it, Q6_K/Q5_K_M logits land ~0.05 from llama.cpp's (rand-small reference), with it they agree to 1e-4.
/// </para>
/// </summary>
internal static unsafe class Attention
{
    /// <summary>Below this many multiply-adds (≈ tokens × heads × positions × head size) the caller does it alone.</summary>
    private const long InlineWork = 1 << 15;

    /// <summary>Everything a head task reads; lives on the caller's stack while the pool runs.</summary>
    private struct Job
    {
        public float* Q, Out;
        public ushort* Keys, Values;
        public int N, Start, QDim, KvDim, HeadDim, Group;
        public float Scale;
    }

    /// <summary>
    /// out[t, h] = Σ_j softmax_j(q[t,h]·K[j,h/group] · scale) · V[j,h/group] for j ≤ start + t, over the fp16 cache.
    /// </summary>
    public static void Run(ReadOnlySpan<float> q, Half[] keys, Half[] values, Span<float> output, int n, int start, ModelConfig c)
    {
        fixed (float* pq = q)
        fixed (Half* pk = keys)
        fixed (Half* pv = values)
        fixed (float* po = output)
        {
            var job = new Job
            {
                Q = pq, Keys = (ushort*)pk, Values = (ushort*)pv, Out = po,
                N = n, Start = start, QDim = c.QueryDim, KvDim = c.KvDim, HeadDim = c.HeadDim,
                Group = c.Heads / c.KvHeads, Scale = 1f / MathF.Sqrt(c.HeadDim),
            };
            var work = (long)n * c.Heads * (start + n) * c.HeadDim;
            if (work < InlineWork)
                for (var h = 0; h < c.Heads; h++) Head(&job, h);
            else
                ComputePool.Shared.Run(&Head, &job, c.Heads);
        }
    }

    /// <summary>
    /// From this many new tokens on, a head's keys and values are widened to float once (exactly) into a per-thread
    /// scratch and every query reads them from there: a prompt's queries then share one conversion per position
    /// instead of each redoing it, which was most of prefill's attention time. The arithmetic is unchanged, so a
    /// prompt's attention is bit for bit what one-token steps give.
    /// </summary>
    private const int WidenFrom = 4;

    [ThreadStatic] private static float[]? _widened;

    private static void Head(void* context, int h)
    {
        var j = (Job*)context;
        if (j->N >= WidenFrom) HeadWidened(j, h);
        else HeadHalf(j, h);
    }

    private static void HeadWidened(Job* j, int h)
    {
        var hd = j->HeadDim;
        var kvOff = h / j->Group * hd;
        var positions = j->Start + j->N;
        var need = 2 * positions * hd;
        var buf = _widened;
        if (buf == null || buf.Length < need) _widened = buf = new float[Math.Max(need, 1 << 16)];
        Span<float> q = stackalloc float[hd];
        Span<float> acc = stackalloc float[hd];
        fixed (float* keys = buf)
        {
            var values = keys + (long)positions * hd;
            for (var p = 0; p < positions; p++)
            {
                FastConvert.HalfToSingle(j->Keys + (long)p * j->KvDim + kvOff, new Span<float>(keys + (long)p * hd, hd));
                FastConvert.HalfToSingle(j->Values + (long)p * j->KvDim + kvOff, new Span<float>(values + (long)p * hd, hd));
            }
            for (var t = 0; t < j->N; t++)
            {
                var len = j->Start + t + 1;
                new ReadOnlySpan<float>(j->Q + (long)t * j->QDim + h * hd, hd).CopyTo(q);
                VectorOps.RoundToHalf(q);
                acc.Clear();
                // The same online softmax as HeadHalf, over the widened rows.
                float m = float.NegativeInfinity, s = 0;
                for (var p = 0; p < len; p++)
                {
                    var score = DotWidened(q, keys + (long)p * hd) * j->Scale;
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
                    MadWidened(acc, values + (long)p * hd, vs);
                    s = s * ms + vs;
                }
                var o = new Span<float>(j->Out + (long)t * j->QDim + h * hd, hd);
                var inv = s == 0 ? 0 : 1 / s;
                for (var i = 0; i < hd; i++) o[i] = acc[i] * inv;
            }
        }
    }

    private static void HeadHalf(Job* j, int h)
    {
        var hd = j->HeadDim;
        var kvOff = h / j->Group * hd;
        Span<float> q = stackalloc float[hd];
        Span<float> acc = stackalloc float[hd];
        for (var t = 0; t < j->N; t++)
        {
            var len = j->Start + t + 1;
            new ReadOnlySpan<float>(j->Q + (long)t * j->QDim + h * hd, hd).CopyTo(q);
            VectorOps.RoundToHalf(q);
            acc.Clear();
            // Online softmax (ggml_compute_forward_flash_attn_ext_f16): m the running maximum, s the running sum;
            // when a score raises the maximum, the fp16 accumulator is rescaled (and rounded) before the value is added.
            float m = float.NegativeInfinity, s = 0;
            for (var p = 0; p < len; p++)
            {
                var score = DotF16(q, j->Keys + (long)p * j->KvDim + kvOff) * j->Scale;
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
                MadHalf(acc, j->Values + (long)p * j->KvDim + kvOff, vs);
                s = s * ms + vs;
            }
            var o = new Span<float>(j->Out + (long)t * j->QDim + h * hd, hd);
            var inv = s == 0 ? 0 : 1 / s;
            for (var i = 0; i < hd; i++) o[i] = acc[i] * inv;
        }
    }

    /// <summary>
    /// Dot of an fp16-valued query and an fp16 cache row in ggml_vec_dot_f16's order (AVX2: four 8-lane fused
    /// accumulators per 32 values, reduced pairwise; the remainder added in double). Widening fp16 to float is exact.
    /// </summary>
    private static float DotF16(ReadOnlySpan<float> a, ushort* b)
    {
        var n = a.Length;
        var np = Vector256.IsHardwareAccelerated ? n & ~31 : 0;
        double sum = 0;
        if (np > 0)
        {
            var va = MemoryMarshal.Cast<float, Vector256<float>>(a[..np]);
            var scale = Vector256.Create(5.192297e33f); // 2^112, see FastConvert.HalfToSingle8
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (var i = 0; i < va.Length; i += 4)
            {
                var bi = b + i * 8;
                s0 = Vector256.FusedMultiplyAdd(va[i], FastConvert.HalfToSingle8(Vector128.Load(bi), scale), s0);
                s1 = Vector256.FusedMultiplyAdd(va[i + 1], FastConvert.HalfToSingle8(Vector128.Load(bi + 8), scale), s1);
                s2 = Vector256.FusedMultiplyAdd(va[i + 2], FastConvert.HalfToSingle8(Vector128.Load(bi + 16), scale), s2);
                s3 = Vector256.FusedMultiplyAdd(va[i + 3], FastConvert.HalfToSingle8(Vector128.Load(bi + 24), scale), s3);
            }
            var r = (s0 + s2) + (s1 + s3);
            var h = r.GetLower() + r.GetUpper();
            // Two horizontal adds: (h0+h1, h2+h3), then their sum.
            sum = (h[0] + h[1]) + (h[2] + h[3]);
        }
        for (var i = np; i < n; i++) sum += (double)(a[i] * (float)BitConverter.UInt16BitsToHalf(b[i]));
        return (float)sum;
    }

    /// <summary><see cref="DotF16"/> with the cache row already widened to float: same order, same result.</summary>
    private static float DotWidened(ReadOnlySpan<float> a, float* b)
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
                s0 = Vector256.FusedMultiplyAdd(va[i], Vector256.Load(bi), s0);
                s1 = Vector256.FusedMultiplyAdd(va[i + 1], Vector256.Load(bi + 8), s1);
                s2 = Vector256.FusedMultiplyAdd(va[i + 2], Vector256.Load(bi + 16), s2);
                s3 = Vector256.FusedMultiplyAdd(va[i + 3], Vector256.Load(bi + 24), s3);
            }
            var r = (s0 + s2) + (s1 + s3);
            var h = r.GetLower() + r.GetUpper();
            sum = (h[0] + h[1]) + (h[2] + h[3]);
        }
        for (var i = np; i < n; i++) sum += (double)(a[i] * b[i]);
        return (float)sum;
    }

    /// <summary><see cref="MadHalf"/> with the value row already widened to float.</summary>
    private static void MadWidened(Span<float> acc, float* x, float s)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var v = MemoryMarshal.Cast<float, Vector256<float>>(acc);
            var vs = Vector256.Create(s);
            for (var k = 0; k < v.Length; k++)
                v[k] = VectorOps.RoundToHalf(Vector256.FusedMultiplyAdd(Vector256.Load(x + k * 8), vs, v[k]));
            i = v.Length * Vector256<float>.Count;
        }
        for (; i < acc.Length; i++) acc[i] = (float)(Half)MathF.FusedMultiplyAdd(x[i], s, acc[i]);
    }

    /// <summary>acc = fp16(acc · s) (ggml_vec_scale_f16).</summary>
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

    /// <summary>acc = fp16(acc + x · s) with one rounding of the fused product-sum (ggml_vec_mad_f16).</summary>
    private static void MadHalf(Span<float> acc, ushort* x, float s)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var v = MemoryMarshal.Cast<float, Vector256<float>>(acc);
            var vs = Vector256.Create(s);
            var scale = Vector256.Create(5.192297e33f); // 2^112, see FastConvert.HalfToSingle8
            for (var k = 0; k < v.Length; k++)
                v[k] = VectorOps.RoundToHalf(Vector256.FusedMultiplyAdd(FastConvert.HalfToSingle8(Vector128.Load(x + k * 8), scale), vs, v[k]));
            i = v.Length * Vector256<float>.Count;
        }
        for (; i < acc.Length; i++) acc[i] = (float)(Half)MathF.FusedMultiplyAdd((float)BitConverter.UInt16BitsToHalf(x[i]), s, acc[i]);
    }
}
