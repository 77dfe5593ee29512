using System.Runtime.InteropServices;
using Rbee.Worker.Gguf;

namespace Rbee.Worker.Kernels;

/// <summary>
/// F32 → GGUF block types, for generating models (benchmarks, tests) and checking round-trip error. Plain
/// round-to-nearest with per-block scales chosen from the block's range; llama.cpp's encoders search scales harder
/// (and use importance weights), so their error is somewhat lower, but the bytes mean the same to any decoder.
/// </summary>
public static class Quantize
{
    public static bool Supports(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.Q8_0
        or GgmlType.Q4_0 or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

    /// <summary>Encodes <paramref name="src"/> (a whole number of blocks) into <paramref name="dst"/>.</summary>
    public static void Row(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        var need = GgmlTypeInfo.RowBytes(type, src.Length);
        if (dst.Length < need) throw new ArgumentException($"{type} needs {need} bytes for {src.Length} values", nameof(dst));
        var (bs, bb) = GgmlTypeInfo.Layout(type)!.Value;
        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.AsBytes(src).CopyTo(dst);
                return;
            case GgmlType.F16:
                for (var i = 0; i < src.Length; i++) WriteHalf(dst, 2 * i, src[i]);
                return;
            case GgmlType.BF16:
                for (var i = 0; i < src.Length; i++)
                {
                    // Round to nearest even on the dropped 16 bits.
                    var bits = BitConverter.SingleToUInt32Bits(src[i]);
                    var rounded = (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
                    MemoryMarshal.Write(dst.Slice(2 * i), rounded);
                }
                return;
        }
        for (var b = 0; b < src.Length / bs; b++)
        {
            var x = src.Slice(b * bs, bs);
            var y = dst.Slice(b * bb, bb);
            switch (type)
            {
                case GgmlType.Q8_0: Q8_0(x, y); break;
                case GgmlType.Q4_0: Q4_0(x, y); break;
                case GgmlType.Q4_K: QK(x, y, bits: 4); break;
                case GgmlType.Q5_K: QK(x, y, bits: 5); break;
                case GgmlType.Q6_K: Q6_K(x, y); break;
                default: throw new NotSupportedException($"no quantizer for {type}");
            }
        }
    }

    private static void WriteHalf(Span<byte> dst, int at, float v) =>
        MemoryMarshal.Write(dst.Slice(at), BitConverter.HalfToUInt16Bits((Half)v));

    private static float RoundTripHalf(float v) => (float)(Half)v;

    private static void Q8_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0;
        foreach (var v in x) amax = MathF.Max(amax, MathF.Abs(v));
        var d = RoundTripHalf(amax / 127f);
        WriteHalf(y, 0, d);
        var id = d == 0 ? 0 : 1 / d;
        for (var i = 0; i < 32; i++) y[2 + i] = (byte)(sbyte)Math.Clamp((int)MathF.Round(x[i] * id), -127, 127);
    }

    // As ggml: the value of largest magnitude maps to −8 exactly, so the asymmetric range [−8, 7] is fully used.
    private static void Q4_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0, max = 0;
        foreach (var v in x)
            if (MathF.Abs(v) > amax)
            {
                amax = MathF.Abs(v);
                max = v;
            }
        var d = RoundTripHalf(max / -8f);
        WriteHalf(y, 0, d);
        var id = d == 0 ? 0 : 1 / d;
        for (var j = 0; j < 16; j++)
        {
            var q0 = Math.Clamp((int)MathF.Round(x[j] * id) + 8, 0, 15);
            var q1 = Math.Clamp((int)MathF.Round(x[j + 16] * id) + 8, 0, 15);
            y[2 + j] = (byte)(q0 | (q1 << 4));
        }
    }

    /// <summary>Q4_K (bits 4) and Q5_K (bits 5): per 32 an affine range [min, max] → 6-bit scale and min.</summary>
    private static void QK(ReadOnlySpan<float> x, Span<byte> y, int bits)
    {
        var levels = (1 << bits) - 1;
        Span<float> scale = stackalloc float[8];
        Span<float> min = stackalloc float[8];
        for (var s = 0; s < 8; s++)
        {
            float lo = 0, hi = 0; // the range always holds 0, so min ≥ 0 stays a subtraction as the format wants
            for (var l = 0; l < 32; l++)
            {
                lo = MathF.Min(lo, x[32 * s + l]);
                hi = MathF.Max(hi, x[32 * s + l]);
            }
            scale[s] = (hi - lo) / levels;
            min[s] = -lo;
        }
        float maxScale = 0, maxMin = 0;
        for (var s = 0; s < 8; s++)
        {
            maxScale = MathF.Max(maxScale, scale[s]);
            maxMin = MathF.Max(maxMin, min[s]);
        }
        var d = RoundTripHalf(maxScale / 63f);
        var dmin = RoundTripHalf(maxMin / 63f);
        WriteHalf(y, 0, d);
        WriteHalf(y, 2, dmin);
        Span<int> sc = stackalloc int[8];
        Span<int> mn = stackalloc int[8];
        for (var s = 0; s < 8; s++)
        {
            sc[s] = d == 0 ? 0 : Math.Clamp((int)MathF.Round(scale[s] / d), 0, 63);
            mn[s] = dmin == 0 ? 0 : Math.Clamp((int)MathF.Round(min[s] / dmin), 0, 63);
        }
        var packed = y.Slice(4, 12);
        for (var j = 0; j < 4; j++)
        {
            packed[j] = (byte)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
            packed[j + 4] = (byte)((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
            packed[j + 8] = (byte)((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
        }
        Span<byte> q = stackalloc byte[256];
        for (var s = 0; s < 8; s++)
        {
            var ds = d * sc[s];
            var ms = dmin * mn[s];
            for (var l = 0; l < 32; l++)
                q[32 * s + l] = ds == 0 ? (byte)0 : (byte)Math.Clamp((int)MathF.Round((x[32 * s + l] + ms) / ds), 0, levels);
        }
        var qsAt = bits == 4 ? 16 : 48;
        if (bits == 5) y.Slice(16, 32).Clear();
        for (var k = 0; k < 4; k++)
            for (var l = 0; l < 32; l++)
            {
                int a = q[64 * k + l], b = q[64 * k + 32 + l];
                y[qsAt + 32 * k + l] = (byte)((a & 0xF) | ((b & 0xF) << 4));
                if (bits == 5) y[16 + l] |= (byte)(((a >> 4) << (2 * k)) | ((b >> 4) << (2 * k + 1)));
            }
    }

    // Per 16 values a signed scale (int8 times the block's d) and 6-bit values offset by 32.
    private static void Q6_K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<float> scale = stackalloc float[16];
        float maxAbsScale = 0;
        for (var g = 0; g < 16; g++)
        {
            float amax = 0;
            for (var l = 0; l < 16; l++) amax = MathF.Max(amax, MathF.Abs(x[16 * g + l]));
            scale[g] = amax / 31f;
            maxAbsScale = MathF.Max(maxAbsScale, scale[g]);
        }
        var d = RoundTripHalf(maxAbsScale / 127f);
        WriteHalf(y, 208, d);
        Span<byte> q = stackalloc byte[256];
        for (var g = 0; g < 16; g++)
        {
            var sc = d == 0 ? 0 : Math.Clamp((int)MathF.Round(scale[g] / d), -128, 127);
            y[192 + g] = (byte)(sbyte)sc;
            var ds = d * sc;
            for (var l = 0; l < 16; l++)
                q[16 * g + l] = (byte)(ds == 0 ? 32 : Math.Clamp((int)MathF.Round(x[16 * g + l] / ds), -32, 31) + 32);
        }
        y.Slice(128, 64).Clear();
        for (var h = 0; h < 2; h++)
            for (var l = 0; l < 32; l++)
            {
                int q0 = q[128 * h + l], q1 = q[128 * h + l + 32], q2 = q[128 * h + l + 64], q3 = q[128 * h + l + 96];
                y[64 * h + l] = (byte)((q0 & 0xF) | ((q2 & 0xF) << 4));
                y[64 * h + l + 32] = (byte)((q1 & 0xF) | ((q3 & 0xF) << 4));
                y[128 + 32 * h + l] = (byte)((q0 >> 4) | ((q1 >> 4) << 2) | ((q2 >> 4) << 4) | ((q3 >> 4) << 6));
            }
    }
}
