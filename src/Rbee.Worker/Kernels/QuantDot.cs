using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rbee.Worker.Kernels;

/// <summary>
/// Integer dot products of one weight row (quantized blocks) with <see cref="Q8Activations"/>: unsigned 4/5/6-bit
/// weights times signed 8-bit activations with <c>vpdpbusd</c> (AVX-VNNI) or <c>vpmaddubsw</c>+<c>vpmaddwd</c>
/// (AVX2), 32 values per instruction, then one float multiply-add per 32 values with the two scales. Constant
/// offsets (−8, −32, mins) come from the activations' per-16 sums. Callers check <see cref="IsSupported"/>; the
/// portable path decodes to float instead.
/// </summary>
internal static unsafe class QuantDot
{
    public static bool IsSupported => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>The fp16 field at <paramref name="p"/> as a float (<see cref="FastConvert.HalfBits(uint)"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float H2F(byte* p) => FastConvert.HalfBits(*(ushort*)p);

    /// <summary>Eight int32 sums, lane i = Σ of bytes 4i..4i+3 of u·s (u unsigned, s signed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dot4(Vector256<byte> u, Vector256<sbyte> s)
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u, s);
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256.Create((short)1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles(byte* p)
    {
        var raw = Vector128.Load(p);
        var m4 = Vector128.Create((byte)0x0F);
        return Vector256.Create(raw & m4, (raw.AsUInt16() >> 4).AsByte() & m4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HSum(Vector256<float> v) => Vector256.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q8_0(byte* row, int nb, sbyte* xq, float* xd)
    {
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        var b = 0;
        for (; b + 2 <= nb; b += 2)
        {
            var p0 = row + 34 * b;
            var p1 = p0 + 34;
            var w0 = Vector256.Load((sbyte*)(p0 + 2));
            var w1 = Vector256.Load((sbyte*)(p1 + 2));
            var x0 = Vector256.Load(xq + 32 * b);
            var x1 = Vector256.Load(xq + 32 * b + 32);
            var d0 = Dot4(Avx2.Abs(w0), Avx2.Sign(x0, w0));
            var d1 = Dot4(Avx2.Abs(w1), Avx2.Sign(x1, w1));
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(d0), Vector256.Create(H2F(p0) * xd[b]), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(d1), Vector256.Create(H2F(p1) * xd[b + 1]), acc1);
        }
        for (; b < nb; b++)
        {
            var p0 = row + 34 * b;
            var w0 = Vector256.Load((sbyte*)(p0 + 2));
            var x0 = Vector256.Load(xq + 32 * b);
            var d0 = Dot4(Avx2.Abs(w0), Avx2.Sign(x0, w0));
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(d0), Vector256.Create(H2F(p0) * xd[b]), acc0);
        }
        return HSum(acc0 + acc1);
    }

    /// <summary>
    /// <see cref="Q8_0"/> for four sequences at once (activations <paramref name="xstride"/> values apart, scales
    /// <c>nb</c> apart): each weight pair is loaded, made absolute and its scales decoded once for all four, while every
    /// sequence runs exactly <see cref="Q8_0"/>'s operations in its order (even blocks in one accumulator, odd in the
    /// other, the same scale products, the same final sum). So each result is bit for bit <see cref="Q8_0"/>'s:
    /// batched decode stays batch-invariant and costs less than four single dots.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q8_0x4(byte* row, int nb, sbyte* xq, float* xd, long xstride, float* y, long ystride)
    {
        Vector256<float> e0 = default, o0 = default, e1 = default, o1 = default;
        Vector256<float> e2 = default, o2 = default, e3 = default, o3 = default;
        sbyte* x1 = xq + xstride, x2 = xq + 2 * xstride, x3 = xq + 3 * xstride;
        float* d1 = xd + nb, d2 = xd + 2 * nb, d3 = xd + 3 * nb;
        var b = 0;
        for (; b + 2 <= nb; b += 2)
        {
            var p0 = row + 34 * b;
            var p1 = p0 + 34;
            var w0 = Vector256.Load((sbyte*)(p0 + 2));
            var w1 = Vector256.Load((sbyte*)(p1 + 2));
            var a0 = Avx2.Abs(w0);
            var a1 = Avx2.Abs(w1);
            float h0 = H2F(p0), h1 = H2F(p1);
            var o = 32 * b;
            e0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Dot4(a0, Avx2.Sign(Vector256.Load(xq + o), w0))), Vector256.Create(h0 * xd[b]), e0);
            o0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Dot4(a1, Avx2.Sign(Vector256.Load(xq + o + 32), w1))), Vector256.Create(h1 * xd[b + 1]), o0);
            e1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Dot4(a0, Avx2.Sign(Vector256.Load(x1 + o), w0))), Vector256.Create(h0 * d1[b]), e1);
            o1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Dot4(a1, Avx2.Sign(Vector256.Load(x1 + o + 32), w1))), Vector256.Create(h1 * d1[b + 1]), o1);
            e2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Dot4(a0, Avx2.Sign(Vector256.Load(x2 + o), w0))), Vector256.Create(h0 * d2[b]), e2);
            o2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Dot4(a1, Avx2.Sign(Vector256.Load(x2 + o + 32), w1))), Vector256.Create(h1 * d2[b + 1]), o2);
            e3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Dot4(a0, Avx2.Sign(Vector256.Load(x3 + o), w0))), Vector256.Create(h0 * d3[b]), e3);
            o3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Dot4(a1, Avx2.Sign(Vector256.Load(x3 + o + 32), w1))), Vector256.Create(h1 * d3[b + 1]), o3);
        }
        for (; b < nb; b++)
        {
            var p0 = row + 34 * b;
            var w0 = Vector256.Load((sbyte*)(p0 + 2));
            var a0 = Avx2.Abs(w0);
            var h0 = H2F(p0);
            var o = 32 * b;
            e0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Dot4(a0, Avx2.Sign(Vector256.Load(xq + o), w0))), Vector256.Create(h0 * xd[b]), e0);
            e1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Dot4(a0, Avx2.Sign(Vector256.Load(x1 + o), w0))), Vector256.Create(h0 * d1[b]), e1);
            e2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Dot4(a0, Avx2.Sign(Vector256.Load(x2 + o), w0))), Vector256.Create(h0 * d2[b]), e2);
            e3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Dot4(a0, Avx2.Sign(Vector256.Load(x3 + o), w0))), Vector256.Create(h0 * d3[b]), e3);
        }
        DecodeDot.Store4(DecodeDot.Sums4(e0 + o0, e1 + o1, e2 + o2, e3 + o3), y, ystride);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q4_0(byte* row, int nb, sbyte* xq, float* xd, float* xs16)
    {
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        float corr = 0;
        var b = 0;
        for (; b + 2 <= nb; b += 2)
        {
            var p0 = row + 18 * b;
            var p1 = p0 + 18;
            float dw0 = H2F(p0), dw1 = H2F(p1);
            var d0 = Dot4(Nibbles(p0 + 2), Vector256.Load(xq + 32 * b));
            var d1 = Dot4(Nibbles(p1 + 2), Vector256.Load(xq + 32 * b + 32));
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(d0), Vector256.Create(dw0 * xd[b]), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(d1), Vector256.Create(dw1 * xd[b + 1]), acc1);
            corr += dw0 * (xs16[2 * b] + xs16[2 * b + 1]) + dw1 * (xs16[2 * b + 2] + xs16[2 * b + 3]);
        }
        for (; b < nb; b++)
        {
            var p0 = row + 18 * b;
            var dw0 = H2F(p0);
            var d0 = Dot4(Nibbles(p0 + 2), Vector256.Load(xq + 32 * b));
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(d0), Vector256.Create(dw0 * xd[b]), acc0);
            corr += dw0 * (xs16[2 * b] + xs16[2 * b + 1]);
        }
        return HSum(acc0 + acc1) - 8 * corr;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q4_K(byte* row, int nsb, sbyte* xq, float* xd, float* xs16)
    {
        var acc = Vector256<float>.Zero;
        var corr = Vector256<float>.Zero;
        var m4 = Vector256.Create((byte)0x0F);
        for (var s = 0; s < nsb; s++)
        {
            var blk = row + 144 * s;
            float d = H2F(blk), dmin = H2F(blk + 2);
            UnpackK4(blk + 4, out var scales, out var mins);
            var q = blk + 16;
            var xqs = xq + 256 * s;
            var sumi0 = Vector256<int>.Zero;
            var sumi1 = Vector256<int>.Zero;
            for (var k = 0; k < 4; k++)
            {
                var raw = Vector256.Load(q + 32 * k);
                var lo = raw & m4;
                var hi = (raw.AsUInt16() >> 4).AsByte() & m4;
                sumi0 += Dot4(lo, Vector256.Load(xqs + 64 * k)) * Vector256.Create((int)(byte)(scales >> (16 * k)));
                sumi1 += Dot4(hi, Vector256.Load(xqs + 64 * k + 32)) * Vector256.Create((int)(byte)(scales >> (16 * k + 8)));
            }
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi0 + sumi1), Vector256.Create(d * xd[8 * s]), acc);
            // Σ_j min_j · (d_x·Σq over sub-block j): the per-16 sums added in pairs, in sub-block order.
            var xss = xs16 + 16 * s;
            var pairs = Avx.HorizontalAdd(Vector256.Load(xss), Vector256.Load(xss + 8));
            pairs = Avx2.Permute4x64(pairs.AsDouble(), 0b11_01_10_00).AsSingle();
            var m = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Vector128.CreateScalar(mins).AsByte()));
            corr = Fma.MultiplyAdd(m * Vector256.Create(dmin), pairs, corr);
        }
        return HSum(acc) - HSum(corr);
    }

    /// <summary>
    /// The eight 6-bit scales and mins of a Q4_K/Q5_K block as two little-endian byte octets (ggml's utmp unpacking
    /// of get_scale_min_k4, four lanes at a time).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void UnpackK4(byte* q, out ulong scales, out ulong mins)
    {
        const uint k1 = 0x3f3f3f3f, k2 = 0x0f0f0f0f, k3 = 0x03030303;
        var u0 = Unsafe.ReadUnaligned<uint>(q);
        var u1 = Unsafe.ReadUnaligned<uint>(q + 4);
        var u2 = Unsafe.ReadUnaligned<uint>(q + 8);
        var sHi = (u2 & k2) | (((u0 >> 6) & k3) << 4);
        var mHi = ((u2 >> 4) & k2) | (((u1 >> 6) & k3) << 4);
        scales = (u0 & k1) | ((ulong)sHi << 32);
        mins = (u1 & k1) | ((ulong)mHi << 32);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q5_K(byte* row, int nsb, sbyte* xq, float* xd, float* xs16)
    {
        var acc = Vector256<float>.Zero;
        var corr = Vector256<float>.Zero;
        var m4 = Vector256.Create((byte)0x0F);
        var bit = Vector256.Create((byte)0x10);
        for (var s = 0; s < nsb; s++)
        {
            var blk = row + 176 * s;
            float d = H2F(blk), dmin = H2F(blk + 2);
            UnpackK4(blk + 4, out var scales, out var mins);
            var qh = Vector256.Load(blk + 16).AsUInt16();
            var q = blk + 48;
            var xqs = xq + 256 * s;
            var sumi0 = Vector256<int>.Zero;
            var sumi1 = Vector256<int>.Zero;
            for (var k = 0; k < 4; k++)
            {
                var raw = Vector256.Load(q + 32 * k);
                // Bit 2k (then 2k+1) of each qh byte moved to bit 4: shifting 16-bit lanes is safe once masked.
                var h0 = (2 * k <= 4 ? qh << (4 - 2 * k) : qh >> (2 * k - 4)).AsByte() & bit;
                var h1 = (2 * k + 1 <= 4 ? qh << (3 - 2 * k) : qh >> (2 * k - 3)).AsByte() & bit;
                var lo = (raw & m4) | h0;
                var hi = ((raw.AsUInt16() >> 4).AsByte() & m4) | h1;
                sumi0 += Dot4(lo, Vector256.Load(xqs + 64 * k)) * Vector256.Create((int)(byte)(scales >> (16 * k)));
                sumi1 += Dot4(hi, Vector256.Load(xqs + 64 * k + 32)) * Vector256.Create((int)(byte)(scales >> (16 * k + 8)));
            }
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi0 + sumi1), Vector256.Create(d * xd[8 * s]), acc);
            var xss = xs16 + 16 * s;
            var pairs = Avx.HorizontalAdd(Vector256.Load(xss), Vector256.Load(xss + 8));
            pairs = Avx2.Permute4x64(pairs.AsDouble(), 0b11_01_10_00).AsSingle();
            var m = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Vector128.CreateScalar(mins).AsByte()));
            corr = Fma.MultiplyAdd(m * Vector256.Create(dmin), pairs, corr);
        }
        return HSum(acc) - HSum(corr);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q6_K(byte* row, int nsb, sbyte* xq, float* xd, float* xs16)
    {
        var acc = Vector256<float>.Zero;
        float corr = 0;
        var m4 = Vector256.Create((byte)0x0F);
        var m30 = Vector256.Create((byte)0x30);
        for (var s = 0; s < nsb; s++)
        {
            var blk = row + 210 * s;
            var d = H2F(blk + 208);
            var scales = (sbyte*)(blk + 192);
            var sumi0 = Vector256<int>.Zero;
            var sumi1 = Vector256<int>.Zero;
            for (var h = 0; h < 2; h++)
            {
                var ql = blk + 64 * h;
                var qh = Vector256.Load(blk + 128 + 32 * h).AsUInt16();
                var sc = scales + 8 * h;
                var l0 = Vector256.Load(ql);
                var l1 = Vector256.Load(ql + 32);
                var q0 = (l0 & m4) | ((qh << 4).AsByte() & m30);
                var q1 = (l1 & m4) | ((qh << 2).AsByte() & m30);
                var q2 = ((l0.AsUInt16() >> 4).AsByte() & m4) | (qh.AsByte() & m30);
                var q3 = ((l1.AsUInt16() >> 4).AsByte() & m4) | ((qh >> 2).AsByte() & m30);
                var xqs = xq + 256 * s + 128 * h;
                // Lanes 0..3 hold values 0..15 of the 32 (scale 2g), lanes 4..7 values 16..31 (scale 2g+1).
                sumi0 += Dot4(q0, Vector256.Load(xqs)) * IntPair(sc[0], sc[1]);
                sumi1 += Dot4(q1, Vector256.Load(xqs + 32)) * IntPair(sc[2], sc[3]);
                sumi0 += Dot4(q2, Vector256.Load(xqs + 64)) * IntPair(sc[4], sc[5]);
                sumi1 += Dot4(q3, Vector256.Load(xqs + 96)) * IntPair(sc[6], sc[7]);
            }
            var xss = xs16 + 16 * s;
            float cf = 0;
            for (var g = 0; g < 16; g++) cf += scales[g] * xss[g];
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi0 + sumi1), Vector256.Create(d * xd[8 * s]), acc);
            corr += 32 * d * cf;
        }
        return HSum(acc) - corr;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> IntPair(int a, int b) => Vector256.Create(Vector128.Create(a), Vector128.Create(b));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Pair(int a, int b, float scale) =>
        Vector256.Create(Vector128.Create(a * scale), Vector128.Create(b * scale));

    /// <summary>F16 row · float x: eight halves converted in registers per multiply-add.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float F16(byte* row, float* x, int n)
    {
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        var h = (ushort*)row;
        var i = 0;
        for (; i + 16 <= n; i += 16)
        {
            acc0 = Fma.MultiplyAdd(FastConvert.HalfToSingle8(Vector128.Load(h + i)), Vector256.Load(x + i), acc0);
            acc1 = Fma.MultiplyAdd(FastConvert.HalfToSingle8(Vector128.Load(h + i + 8)), Vector256.Load(x + i + 8), acc1);
        }
        var s = HSum(acc0 + acc1);
        for (; i < n; i++) s += (float)BitConverter.UInt16BitsToHalf(h[i]) * x[i];
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float BF16(byte* row, float* x, int n)
    {
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        var h = (ushort*)row;
        var i = 0;
        for (; i + 16 <= n; i += 16)
        {
            var a = Vector128.Load(h + i);
            var b = Vector128.Load(h + i + 8);
            var fa = (Vector256.Create(Vector128.WidenLower(a), Vector128.WidenUpper(a)) << 16).AsSingle();
            var fb = (Vector256.Create(Vector128.WidenLower(b), Vector128.WidenUpper(b)) << 16).AsSingle();
            acc0 = Fma.MultiplyAdd(fa, Vector256.Load(x + i), acc0);
            acc1 = Fma.MultiplyAdd(fb, Vector256.Load(x + i + 8), acc1);
        }
        var s = HSum(acc0 + acc1);
        for (; i < n; i++) s += BitConverter.Int32BitsToSingle(h[i] << 16) * x[i];
        return s;
    }
}
