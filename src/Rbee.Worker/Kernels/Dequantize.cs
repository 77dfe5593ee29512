using System.Runtime.CompilerServices;
using Rbee.Worker.Gguf;

namespace Rbee.Worker.Kernels;

/// <summary>
/// Block decoding of every GGUF tensor type the engine reads. <see cref="RowScalar"/> is the reference: plain loops
/// that follow ggml's block layouts (ggml-common.h) one element at a time; the tests hold every fast path to it.
/// <see cref="Row"/> is what the engine calls (embedding lookup, fallbacks) and takes a SIMD path where one exists.
/// </summary>
public static unsafe class Dequantize
{
    /// <summary>Decodes <c>dst.Length</c> values (a whole number of blocks) starting at <paramref name="src"/>.</summary>
    public static void Row(GgmlType type, byte* src, Span<float> dst)
    {
        switch (type)
        {
            case GgmlType.F32:
                new ReadOnlySpan<float>(src, dst.Length).CopyTo(dst);
                return;
            case GgmlType.F16:
                FastConvert.HalfToSingle((ushort*)src, dst);
                return;
            case GgmlType.BF16:
                FastConvert.BFloat16ToSingle((ushort*)src, dst);
                return;
            default:
                RowScalar(type, src, dst);
                return;
        }
    }

    /// <summary>The scalar reference decoder: one element at a time, exactly as the block layout reads.</summary>
    public static void RowScalar(GgmlType type, byte* src, Span<float> dst)
    {
        var (bs, bb) = GgmlTypeInfo.Layout(type) ?? throw new NotSupportedException($"tensor type {type} is not supported");
        if (dst.Length % bs != 0)
            throw new ArgumentException($"{dst.Length} values are not a whole number of {type} blocks ({bs})", nameof(dst));
        var nb = dst.Length / bs;
        for (var b = 0; b < nb; b++)
        {
            var blk = src + (long)b * bb;
            var y = dst.Slice(b * bs, bs);
            switch (type)
            {
                case GgmlType.F32: y[0] = Unsafe.ReadUnaligned<float>(blk); break;
                case GgmlType.F16: y[0] = Fp16(blk); break;
                case GgmlType.BF16: y[0] = BitConverter.Int32BitsToSingle(Unsafe.ReadUnaligned<ushort>(blk) << 16); break;
                case GgmlType.Q4_0: Q4_0(blk, y); break;
                case GgmlType.Q4_1: Q4_1(blk, y); break;
                case GgmlType.Q5_0: Q5_0(blk, y); break;
                case GgmlType.Q5_1: Q5_1(blk, y); break;
                case GgmlType.Q8_0: Q8_0(blk, y); break;
                case GgmlType.Q2_K: Q2_K(blk, y); break;
                case GgmlType.Q3_K: Q3_K(blk, y); break;
                case GgmlType.Q4_K: Q4_K(blk, y); break;
                case GgmlType.Q5_K: Q5_K(blk, y); break;
                case GgmlType.Q6_K: Q6_K(blk, y); break;
                default: throw new NotSupportedException($"tensor type {type} has no decoder");
            }
        }
    }

    internal static float Fp16(byte* p) => (float)Unsafe.ReadUnaligned<Half>(p);

    // block_q4_0 { half d; u8 qs[16]; }: element j is the low nibble of qs[j], element j+16 the high nibble; value (q-8)·d.
    private static void Q4_0(byte* b, Span<float> y)
    {
        var d = Fp16(b);
        var qs = b + 2;
        for (var j = 0; j < 16; j++)
        {
            y[j] = ((qs[j] & 0xF) - 8) * d;
            y[j + 16] = ((qs[j] >> 4) - 8) * d;
        }
    }

    // block_q4_1 { half d; half m; u8 qs[16]; }: value q·d + m.
    private static void Q4_1(byte* b, Span<float> y)
    {
        var d = Fp16(b);
        var m = Fp16(b + 2);
        var qs = b + 4;
        for (var j = 0; j < 16; j++)
        {
            y[j] = (qs[j] & 0xF) * d + m;
            y[j + 16] = (qs[j] >> 4) * d + m;
        }
    }

    // block_q5_0 { half d; u8 qh[4]; u8 qs[16]; }: bit j of qh is the fifth bit of element j (j+16 for bit j+16).
    private static void Q5_0(byte* b, Span<float> y)
    {
        var d = Fp16(b);
        var qh = Unsafe.ReadUnaligned<uint>(b + 2);
        var qs = b + 6;
        for (var j = 0; j < 16; j++)
        {
            var h0 = (int)((qh >> j) & 1) << 4;
            var h1 = (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (((qs[j] & 0xF) | h0) - 16) * d;
            y[j + 16] = (((qs[j] >> 4) | h1) - 16) * d;
        }
    }

    // block_q5_1 { half d; half m; u8 qh[4]; u8 qs[16]; }: value q·d + m.
    private static void Q5_1(byte* b, Span<float> y)
    {
        var d = Fp16(b);
        var m = Fp16(b + 2);
        var qh = Unsafe.ReadUnaligned<uint>(b + 4);
        var qs = b + 8;
        for (var j = 0; j < 16; j++)
        {
            var h0 = (int)((qh >> j) & 1) << 4;
            var h1 = (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = ((qs[j] & 0xF) | h0) * d + m;
            y[j + 16] = ((qs[j] >> 4) | h1) * d + m;
        }
    }

    // block_q8_0 { half d; i8 qs[32]; }
    private static void Q8_0(byte* b, Span<float> y)
    {
        var d = Fp16(b);
        var qs = (sbyte*)(b + 2);
        for (var j = 0; j < 32; j++) y[j] = qs[j] * d;
    }

    /// <summary>
    /// The 6-bit scale and min of sub-block <paramref name="j"/> (0..7) packed in the 12 scale bytes of Q4_K/Q5_K
    /// (ggml's get_scale_min_k4): sub-blocks 0..3 keep their low 6 bits in bytes 0..7; 4..7 take 4 bits from
    /// bytes 8..11 and their top 2 bits from the spare high bits of bytes 0..7.
    /// </summary>
    internal static void ScaleMinK4(int j, byte* q, out int sc, out int m)
    {
        if (j < 4)
        {
            sc = q[j] & 63;
            m = q[j + 4] & 63;
        }
        else
        {
            sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }

    // block_q4_K { half d; half dmin; u8 scales[12]; u8 qs[128]; }: 8 sub-blocks of 32; each 32 bytes of qs hold
    // sub-block 2k in their low nibbles and sub-block 2k+1 in their high nibbles. value d·sc·q − dmin·m.
    private static void Q4_K(byte* b, Span<float> y)
    {
        var d = Fp16(b);
        var dmin = Fp16(b + 2);
        var scales = b + 4;
        var q = b + 16;
        for (var k = 0; k < 4; k++)
        {
            ScaleMinK4(2 * k, scales, out var sc1, out var m1);
            ScaleMinK4(2 * k + 1, scales, out var sc2, out var m2);
            float d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2;
            for (var l = 0; l < 32; l++)
            {
                y[64 * k + l] = d1 * (q[l] & 0xF) - mm1;
                y[64 * k + 32 + l] = d2 * (q[l] >> 4) - mm2;
            }
            q += 32;
        }
    }

    // block_q5_K { half d; half dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; }: as Q4_K, with the fifth bit of
    // element l of sub-block s in bit s of qh[l].
    private static void Q5_K(byte* b, Span<float> y)
    {
        var d = Fp16(b);
        var dmin = Fp16(b + 2);
        var scales = b + 4;
        var qh = b + 16;
        var ql = b + 48;
        for (var k = 0; k < 4; k++)
        {
            ScaleMinK4(2 * k, scales, out var sc1, out var m1);
            ScaleMinK4(2 * k + 1, scales, out var sc2, out var m2);
            float d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2;
            int u1 = 1 << (2 * k), u2 = 2 << (2 * k);
            for (var l = 0; l < 32; l++)
            {
                y[64 * k + l] = d1 * ((ql[l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0)) - mm1;
                y[64 * k + 32 + l] = d2 * ((ql[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - mm2;
            }
            ql += 32;
        }
    }

    // block_q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; half d; }: each half (128 values) uses 64 ql bytes, 32 qh
    // bytes and 8 scales; value d·scale[16-group]·(q − 32).
    private static void Q6_K(byte* b, Span<float> y)
    {
        var ql = b;
        var qh = b + 128;
        var sc = (sbyte*)(b + 192);
        var d = Fp16(b + 208);
        for (var n = 0; n < 256; n += 128)
        {
            for (var l = 0; l < 32; l++)
            {
                var s = l / 16;
                var q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                var q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                var q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                var q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[n + l] = d * sc[s] * q1;
                y[n + l + 32] = d * sc[s + 2] * q2;
                y[n + l + 64] = d * sc[s + 4] * q3;
                y[n + l + 96] = d * sc[s + 6] * q4;
            }
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }

    // block_q2_K { u8 scales[16]; u8 qs[64]; half d; half dmin; }: 16 groups of 16; scale byte low nibble = scale,
    // high nibble = min; 2-bit values at shifts 0,2,4,6 of each 32-byte run.
    private static void Q2_K(byte* b, Span<float> y)
    {
        var scales = b;
        var q = b + 16;
        var d = Fp16(b + 80);
        var dmin = Fp16(b + 82);
        var i = 0;
        var s = 0;
        for (var n = 0; n < 256; n += 128)
        {
            for (var shift = 0; shift < 8; shift += 2)
            {
                var sc = scales[s++];
                float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
                for (var l = 0; l < 16; l++) y[i++] = dl * ((q[l] >> shift) & 3) - ml;
                sc = scales[s++];
                dl = d * (sc & 0xF);
                ml = dmin * (sc >> 4);
                for (var l = 0; l < 16; l++) y[i++] = dl * ((q[l + 16] >> shift) & 3) - ml;
            }
            q += 32;
        }
    }

    // block_q3_K { u8 hmask[32]; u8 qs[64]; u8 scales[12]; half d; }: 16 signed 6-bit scales (offset 32) packed in
    // 12 bytes; a clear hmask bit subtracts 4 from the 2-bit value.
    private static void Q3_K(byte* b, Span<float> y)
    {
        var hm = b;
        var q = b + 32;
        var d = Fp16(b + 108);
        var sc = Q3Scales(b + 96);
        var i = 0;
        var s = 0;
        var m = 1;
        for (var n = 0; n < 256; n += 128)
        {
            for (var shift = 0; shift < 8; shift += 2)
            {
                var dl = d * (sc[s++] - 32);
                for (var l = 0; l < 16; l++) y[i++] = dl * (((q[l] >> shift) & 3) - ((hm[l] & m) != 0 ? 0 : 4));
                dl = d * (sc[s++] - 32);
                for (var l = 0; l < 16; l++) y[i++] = dl * (((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) != 0 ? 0 : 4));
                m <<= 1;
            }
            q += 32;
        }
    }

    internal static Q3ScaleSet Q3Scales(byte* p)
    {
        const uint kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
        var a0 = Unsafe.ReadUnaligned<uint>(p);
        var a1 = Unsafe.ReadUnaligned<uint>(p + 4);
        var tmp = Unsafe.ReadUnaligned<uint>(p + 8);
        var r = new Q3ScaleSet();
        Span<uint> w = [
            (a0 & kmask2) | (((tmp >> 0) & kmask1) << 4),
            (a1 & kmask2) | (((tmp >> 2) & kmask1) << 4),
            ((a0 >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4),
            ((a1 >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4),
        ];
        for (var k = 0; k < 16; k++) r[k] = (byte)(w[k / 4] >> (8 * (k % 4)));
        return r;
    }

    [InlineArray(16)]
    internal struct Q3ScaleSet
    {
        private byte _e;
    }
}
