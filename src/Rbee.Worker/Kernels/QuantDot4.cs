using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rbee.Worker.Kernels;

/// <summary>
/// Prefill micro-kernels: one weight row against four tokens at once. Each block is loaded and unpacked once and
/// feeds four integer dots, so the unpacking (the costly part once weights sit in cache) is shared and the four
/// independent accumulators keep the multiply units busy. Same arithmetic as <see cref="QuantDot"/> per token.
/// Token t's activations start at <c>t·cols</c> values (<c>t·cols/32</c> scales, <c>t·cols/16</c> sums).
/// </summary>
internal static unsafe class QuantDot4
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dot4(Vector256<byte> u, Vector256<sbyte> s)
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u, s);
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256.Create((short)1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> F(Vector256<int> v) => Avx.ConvertToVector256Single(v);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q8_0(byte* row, int cols, sbyte* xq, float* xd, float* y, long ystride)
    {
        var nb = cols / 32;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (var b = 0; b < nb; b++)
        {
            var p = row + 34 * b;
            var dw = QuantDot.H2F(p);
            var w = Vector256.Load((sbyte*)(p + 2));
            var aw = Avx2.Abs(w);
            var x = xq + 32 * b;
            var d = xd + b;
            a0 = Fma.MultiplyAdd(F(Dot4(aw, Avx2.Sign(Vector256.Load(x), w))), Vector256.Create(dw * d[0]), a0);
            a1 = Fma.MultiplyAdd(F(Dot4(aw, Avx2.Sign(Vector256.Load(x + cols), w))), Vector256.Create(dw * d[nb]), a1);
            a2 = Fma.MultiplyAdd(F(Dot4(aw, Avx2.Sign(Vector256.Load(x + 2 * cols), w))), Vector256.Create(dw * d[2 * nb]), a2);
            a3 = Fma.MultiplyAdd(F(Dot4(aw, Avx2.Sign(Vector256.Load(x + 3 * cols), w))), Vector256.Create(dw * d[3 * nb]), a3);
        }
        y[0] = Vector256.Sum(a0);
        y[ystride] = Vector256.Sum(a1);
        y[2 * ystride] = Vector256.Sum(a2);
        y[3 * ystride] = Vector256.Sum(a3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q4_0(byte* row, int cols, sbyte* xq, float* xd, float* xs, float* y, long ystride)
    {
        var nb = cols / 32;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        float c0 = 0, c1 = 0, c2 = 0, c3 = 0;
        var m4 = Vector128.Create((byte)0x0F);
        for (var b = 0; b < nb; b++)
        {
            var p = row + 18 * b;
            var dw = QuantDot.H2F(p);
            var raw = Vector128.Load(p + 2);
            var q = Vector256.Create(raw & m4, (raw.AsUInt16() >> 4).AsByte() & m4);
            var x = xq + 32 * b;
            var d = xd + b;
            var s = xs + 2 * b;
            a0 = Fma.MultiplyAdd(F(Dot4(q, Vector256.Load(x))), Vector256.Create(dw * d[0]), a0);
            a1 = Fma.MultiplyAdd(F(Dot4(q, Vector256.Load(x + cols))), Vector256.Create(dw * d[nb]), a1);
            a2 = Fma.MultiplyAdd(F(Dot4(q, Vector256.Load(x + 2 * cols))), Vector256.Create(dw * d[2 * nb]), a2);
            a3 = Fma.MultiplyAdd(F(Dot4(q, Vector256.Load(x + 3 * cols))), Vector256.Create(dw * d[3 * nb]), a3);
            c0 += dw * (s[0] + s[1]);
            c1 += dw * (s[2 * nb] + s[2 * nb + 1]);
            c2 += dw * (s[4 * nb] + s[4 * nb + 1]);
            c3 += dw * (s[6 * nb] + s[6 * nb + 1]);
        }
        y[0] = Vector256.Sum(a0) - 8 * c0;
        y[ystride] = Vector256.Sum(a1) - 8 * c1;
        y[2 * ystride] = Vector256.Sum(a2) - 8 * c2;
        y[3 * ystride] = Vector256.Sum(a3) - 8 * c3;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q4_K(byte* row, int cols, sbyte* xq, float* xd, float* xs, float* y, long ystride)
    {
        var nsb = cols / 256;
        var nb = cols / 32;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        float c0 = 0, c1 = 0, c2 = 0, c3 = 0;
        var sc = stackalloc byte[8];
        var mn = stackalloc byte[8];
        var m4 = Vector256.Create((byte)0x0F);
        for (var s = 0; s < nsb; s++)
        {
            var blk = row + 144 * s;
            float d = QuantDot.H2F(blk), dmin = QuantDot.H2F(blk + 2);
            var sq = blk + 4;
            for (var j = 0; j < 4; j++)
            {
                sc[j] = (byte)(sq[j] & 63);
                mn[j] = (byte)(sq[j + 4] & 63);
                sc[j + 4] = (byte)((sq[j + 8] & 0xF) | ((sq[j] >> 6) << 4));
                mn[j + 4] = (byte)((sq[j + 8] >> 4) | ((sq[j + 4] >> 6) << 4));
            }
            var q = blk + 16;
            for (var k = 0; k < 4; k++)
            {
                var raw = Vector256.Load(q + 32 * k);
                var lo = raw & m4;
                var hi = (raw.AsUInt16() >> 4).AsByte() & m4;
                var x = xq + 256 * s + 64 * k;
                var xdd = xd + 8 * s + 2 * k;
                float dl = d * sc[2 * k], dh = d * sc[2 * k + 1];
                a0 = Fma.MultiplyAdd(F(Dot4(lo, Vector256.Load(x))), Vector256.Create(dl * xdd[0]), a0);
                a0 = Fma.MultiplyAdd(F(Dot4(hi, Vector256.Load(x + 32))), Vector256.Create(dh * xdd[1]), a0);
                a1 = Fma.MultiplyAdd(F(Dot4(lo, Vector256.Load(x + cols))), Vector256.Create(dl * xdd[nb]), a1);
                a1 = Fma.MultiplyAdd(F(Dot4(hi, Vector256.Load(x + cols + 32))), Vector256.Create(dh * xdd[nb + 1]), a1);
                a2 = Fma.MultiplyAdd(F(Dot4(lo, Vector256.Load(x + 2 * cols))), Vector256.Create(dl * xdd[2 * nb]), a2);
                a2 = Fma.MultiplyAdd(F(Dot4(hi, Vector256.Load(x + 2 * cols + 32))), Vector256.Create(dh * xdd[2 * nb + 1]), a2);
                a3 = Fma.MultiplyAdd(F(Dot4(lo, Vector256.Load(x + 3 * cols))), Vector256.Create(dl * xdd[3 * nb]), a3);
                a3 = Fma.MultiplyAdd(F(Dot4(hi, Vector256.Load(x + 3 * cols + 32))), Vector256.Create(dh * xdd[3 * nb + 1]), a3);
            }
            var xss = xs + 16 * s;
            float e0 = 0, e1 = 0, e2 = 0, e3 = 0;
            for (var j = 0; j < 8; j++)
            {
                float m = mn[j];
                e0 += m * (xss[2 * j] + xss[2 * j + 1]);
                e1 += m * (xss[2 * nb + 2 * j] + xss[2 * nb + 2 * j + 1]);
                e2 += m * (xss[4 * nb + 2 * j] + xss[4 * nb + 2 * j + 1]);
                e3 += m * (xss[6 * nb + 2 * j] + xss[6 * nb + 2 * j + 1]);
            }
            c0 += dmin * e0;
            c1 += dmin * e1;
            c2 += dmin * e2;
            c3 += dmin * e3;
        }
        y[0] = Vector256.Sum(a0) - c0;
        y[ystride] = Vector256.Sum(a1) - c1;
        y[2 * ystride] = Vector256.Sum(a2) - c2;
        y[3 * ystride] = Vector256.Sum(a3) - c3;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q6_K(byte* row, int cols, sbyte* xq, float* xd, float* xs, float* y, long ystride)
    {
        var nsb = cols / 256;
        var nb = cols / 32;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        float c0 = 0, c1 = 0, c2 = 0, c3 = 0;
        var m4 = Vector256.Create((byte)0x0F);
        var m30 = Vector256.Create((byte)0x30);
        for (var s = 0; s < nsb; s++)
        {
            var blk = row + 210 * s;
            var d = QuantDot.H2F(blk + 208);
            var scales = (sbyte*)(blk + 192);
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
                var at = 256 * s + 128 * h;
                var s0 = Pair(sc[0], sc[1], d);
                var s1 = Pair(sc[2], sc[3], d);
                var s2 = Pair(sc[4], sc[5], d);
                var s3 = Pair(sc[6], sc[7], d);
                a0 = Token(q0, q1, q2, q3, s0, s1, s2, s3, xq + at, xd + at / 32, a0);
                a1 = Token(q0, q1, q2, q3, s0, s1, s2, s3, xq + cols + at, xd + nb + at / 32, a1);
                a2 = Token(q0, q1, q2, q3, s0, s1, s2, s3, xq + 2 * cols + at, xd + 2 * nb + at / 32, a2);
                a3 = Token(q0, q1, q2, q3, s0, s1, s2, s3, xq + 3 * cols + at, xd + 3 * nb + at / 32, a3);
                var xss = xs + at / 16;
                float e0 = 0, e1 = 0, e2 = 0, e3 = 0;
                for (var g = 0; g < 8; g++)
                {
                    float v = sc[g];
                    e0 += v * xss[g];
                    e1 += v * xss[2 * nb + g];
                    e2 += v * xss[4 * nb + g];
                    e3 += v * xss[6 * nb + g];
                }
                c0 += 32 * d * e0;
                c1 += 32 * d * e1;
                c2 += 32 * d * e2;
                c3 += 32 * d * e3;
            }
        }
        y[0] = Vector256.Sum(a0) - c0;
        y[ystride] = Vector256.Sum(a1) - c1;
        y[2 * ystride] = Vector256.Sum(a2) - c2;
        y[3 * ystride] = Vector256.Sum(a3) - c3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Token(Vector256<byte> q0, Vector256<byte> q1, Vector256<byte> q2, Vector256<byte> q3,
        Vector256<float> s0, Vector256<float> s1, Vector256<float> s2, Vector256<float> s3, sbyte* x, float* xd, Vector256<float> acc)
    {
        acc = Fma.MultiplyAdd(F(Dot4(q0, Vector256.Load(x))), s0 * xd[0], acc);
        acc = Fma.MultiplyAdd(F(Dot4(q1, Vector256.Load(x + 32))), s1 * xd[1], acc);
        acc = Fma.MultiplyAdd(F(Dot4(q2, Vector256.Load(x + 64))), s2 * xd[2], acc);
        return Fma.MultiplyAdd(F(Dot4(q3, Vector256.Load(x + 96))), s3 * xd[3], acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Pair(int a, int b, float scale) =>
        Vector256.Create(Vector128.Create(a * scale), Vector128.Create(b * scale));

    /// <summary>F16 row against four float tokens: eight halves converted once per four multiply-adds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void F16(byte* row, int cols, float* x, float* y, long ystride)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var h = (ushort*)row;
        var i = 0;
        for (; i + 8 <= cols; i += 8)
        {
            var w = FastConvert.HalfToSingle8(Vector128.Load(h + i));
            a0 = Fma.MultiplyAdd(w, Vector256.Load(x + i), a0);
            a1 = Fma.MultiplyAdd(w, Vector256.Load(x + cols + i), a1);
            a2 = Fma.MultiplyAdd(w, Vector256.Load(x + 2 * cols + i), a2);
            a3 = Fma.MultiplyAdd(w, Vector256.Load(x + 3 * cols + i), a3);
        }
        float r0 = Vector256.Sum(a0), r1 = Vector256.Sum(a1), r2 = Vector256.Sum(a2), r3 = Vector256.Sum(a3);
        for (; i < cols; i++)
        {
            var w = (float)BitConverter.UInt16BitsToHalf(h[i]);
            r0 += w * x[i];
            r1 += w * x[cols + i];
            r2 += w * x[2 * cols + i];
            r3 += w * x[3 * cols + i];
        }
        y[0] = r0;
        y[ystride] = r1;
        y[2 * ystride] = r2;
        y[3 * ystride] = r3;
    }
}
