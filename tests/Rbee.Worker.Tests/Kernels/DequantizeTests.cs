using Rbee.Testing;
using Rbee.Worker.Gguf;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Tests.Kernels;

/// <summary>
/// Decoding of each block type against hand-built blocks whose values are worked out here from the layout, so a
/// wrong scale, min, nibble or bit order fails; and of real llama.cpp-quantized tensors against their F32 source.
/// </summary>
public unsafe class DequantizeTests
{
    private static byte[] H(float v) => BitConverter.GetBytes(BitConverter.HalfToUInt16Bits((System.Half)v));

    private static float[] Decode(GgmlType type, byte[] block, int n)
    {
        var y = new float[n];
        fixed (byte* p = block) Dequantize.RowScalar(type, p, y);
        var fast = new float[n];
        fixed (byte* p = block) Dequantize.Row(type, p, fast);
        Assert.Equal(y, fast);
        return y;
    }

    [Fact]
    public void Q4_0_LowNibblesFirstHalfHighNibblesSecondHalf()
    {
        var b = new byte[18];
        H(0.5f).CopyTo(b, 0);
        for (var j = 0; j < 16; j++) b[2 + j] = (byte)((j & 0xF) | ((15 - j) << 4));
        var y = Decode(GgmlType.Q4_0, b, 32);
        for (var j = 0; j < 16; j++)
        {
            Assert.Equal((j - 8) * 0.5f, y[j]);
            Assert.Equal((15 - j - 8) * 0.5f, y[j + 16]);
        }
    }

    [Fact]
    public void Q4_1_AddsTheMin()
    {
        var b = new byte[20];
        H(0.25f).CopyTo(b, 0);
        H(-1f).CopyTo(b, 2);
        for (var j = 0; j < 16; j++) b[4 + j] = (byte)(j | (3 << 4));
        var y = Decode(GgmlType.Q4_1, b, 32);
        Assert.Equal(-1f, y[0]);
        Assert.Equal(15 * 0.25f - 1f, y[15]);
        Assert.Equal(3 * 0.25f - 1f, y[16]);
    }

    [Fact]
    public void Q5_0_FifthBitComesFromQh()
    {
        var b = new byte[22];
        H(1f).CopyTo(b, 0);
        // qh bit 1 (element 1) and bit 17 (element 17) set.
        BitConverter.GetBytes((1u << 1) | (1u << 17)).CopyTo(b, 2);
        for (var j = 0; j < 16; j++) b[6 + j] = 0x21; // low nibble 1, high nibble 2
        var y = Decode(GgmlType.Q5_0, b, 32);
        Assert.Equal(1 - 16f, y[0]);
        Assert.Equal(17 - 16f, y[1]);
        Assert.Equal(2 - 16f, y[16]);
        Assert.Equal(18 - 16f, y[17]);
    }

    [Fact]
    public void Q5_1_FifthBitAndMin()
    {
        var b = new byte[24];
        H(2f).CopyTo(b, 0);
        H(0.5f).CopyTo(b, 2);
        BitConverter.GetBytes(1u << 31).CopyTo(b, 4);
        for (var j = 0; j < 16; j++) b[8 + j] = 0xF0;
        var y = Decode(GgmlType.Q5_1, b, 32);
        Assert.Equal(0.5f, y[0]);
        Assert.Equal(15 * 2 + 0.5f, y[16]);
        Assert.Equal(31 * 2 + 0.5f, y[31]);
    }

    [Fact]
    public void Q8_0_SignedBytesTimesScale()
    {
        var b = new byte[34];
        H(0.125f).CopyTo(b, 0);
        for (var j = 0; j < 32; j++) b[2 + j] = (byte)(sbyte)(j - 16);
        var y = Decode(GgmlType.Q8_0, b, 32);
        for (var j = 0; j < 32; j++) Assert.Equal((j - 16) * 0.125f, y[j]);
    }

    /// <summary>Packs 8 six-bit scales and mins the way get_scale_min_k4 unpacks them.</summary>
    private static byte[] PackK4(int[] sc, int[] m)
    {
        var q = new byte[12];
        for (var j = 0; j < 4; j++)
        {
            q[j] = (byte)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
            q[j + 4] = (byte)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
            q[j + 8] = (byte)((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
        }
        return q;
    }

    [Fact]
    public void Q4_K_SixBitScalesAndMinsPerSubBlock()
    {
        int[] sc = [1, 2, 3, 63, 17, 33, 48, 5];
        int[] m = [0, 7, 63, 1, 40, 22, 9, 31];
        var b = new byte[144];
        H(0.5f).CopyTo(b, 0);
        H(0.25f).CopyTo(b, 2);
        PackK4(sc, m).CopyTo(b, 4);
        for (var k = 0; k < 4; k++)
            for (var l = 0; l < 32; l++) b[16 + 32 * k + l] = (byte)((l & 0xF) | (((l + k) & 0xF) << 4));
        var y = Decode(GgmlType.Q4_K, b, 256);
        for (var k = 0; k < 4; k++)
            for (var l = 0; l < 32; l++)
            {
                Assert.Equal(0.5f * sc[2 * k] * (l & 0xF) - 0.25f * m[2 * k], y[64 * k + l]);
                Assert.Equal(0.5f * sc[2 * k + 1] * ((l + k) & 0xF) - 0.25f * m[2 * k + 1], y[64 * k + 32 + l]);
            }
    }

    [Fact]
    public void Q5_K_FifthBitOfSubBlockSIsBitSOfQh()
    {
        int[] sc = [10, 20, 30, 40, 50, 60, 11, 22];
        int[] m = [1, 2, 3, 4, 5, 6, 7, 8];
        var b = new byte[176];
        H(1f).CopyTo(b, 0);
        H(0.5f).CopyTo(b, 2);
        PackK4(sc, m).CopyTo(b, 4);
        for (var l = 0; l < 32; l++) b[16 + l] = (byte)(l % 2 == 0 ? 0b1010_0101 : 0);
        for (var i = 0; i < 128; i++) b[48 + i] = 0x73; // low 3, high 7
        var y = Decode(GgmlType.Q5_K, b, 256);
        for (var s = 0; s < 8; s++)
            for (var l = 0; l < 32; l++)
            {
                var high = l % 2 == 0 && ((0b1010_0101 >> s) & 1) == 1 ? 16 : 0;
                var q = (s % 2 == 0 ? 3 : 7) + high;
                Assert.Equal(1f * sc[s] * q - 0.5f * m[s], y[32 * s + l]);
            }
    }

    [Fact]
    public void Q6_K_LowAndHighBitsAndSignedScales()
    {
        var b = new byte[210];
        var ql = new byte[128];
        var qh = new byte[64];
        var scales = new sbyte[16];
        var rnd = new Random(7);
        rnd.NextBytes(ql);
        rnd.NextBytes(qh);
        for (var i = 0; i < 16; i++) scales[i] = (sbyte)rnd.Next(-128, 128);
        ql.CopyTo(b, 0);
        qh.CopyTo(b, 128);
        for (var i = 0; i < 16; i++) b[192 + i] = (byte)scales[i];
        H(0.0625f).CopyTo(b, 208);
        var y = Decode(GgmlType.Q6_K, b, 256);
        // Element e: half h = e/128, position p = e%128, quarter g = p/32, l = p%32.
        for (var e = 0; e < 256; e++)
        {
            int h = e / 128, p = e % 128, g = p / 32, l = p % 32;
            var lowByte = ql[64 * h + l + (g % 2 == 1 ? 32 : 0)];
            var low = g < 2 ? lowByte & 0xF : lowByte >> 4;
            var high = (qh[32 * h + l] >> (2 * g)) & 3;
            var q = (low | (high << 4)) - 32;
            var scale = scales[8 * h + 2 * g + l / 16];
            Assert.Equal(0.0625f * scale * q, y[e]);
        }
    }

    [Fact]
    public void Q2_K_TwoBitValuesWithNibbleScaleAndMin()
    {
        var b = new byte[84];
        for (var i = 0; i < 16; i++) b[i] = (byte)((i & 0xF) | ((15 - i) << 4));
        for (var i = 0; i < 64; i++) b[16 + i] = 0b11_10_01_00;
        H(1f).CopyTo(b, 80);
        H(0.5f).CopyTo(b, 82);
        var y = Decode(GgmlType.Q2_K, b, 256);
        // Group g (16 values): half h = g/8, shift = 2·((g%8)/2); value = (g%8) value pattern shift/2.
        for (var g = 0; g < 16; g++)
        {
            var q = (g % 8) / 2;
            for (var l = 0; l < 16; l++) Assert.Equal(1f * g * q - 0.5f * (15 - g), y[16 * g + l]);
        }
    }

    [Fact]
    public void Q3_K_HmaskClearSubtractsFour()
    {
        var b = new byte[110];
        // hmask: bit j set for every element of group pair j except where l is odd.
        for (var l = 0; l < 32; l++) b[l] = (byte)(l % 2 == 0 ? 0xFF : 0);
        for (var i = 0; i < 64; i++) b[32 + i] = 0b01_01_01_01;
        // All 16 scales = 32 + 3 → low nibble 3 in bytes 0..7 and high bits 10 (value 2 → 32) in bytes 8..11.
        for (var i = 0; i < 8; i++) b[96 + i] = 0x33;
        for (var i = 0; i < 4; i++) b[104 + i] = 0b10_10_10_10;
        H(0.5f).CopyTo(b, 108);
        var y = Decode(GgmlType.Q3_K, b, 256);
        for (var e = 0; e < 256; e++)
        {
            var l = e % 32;
            var q = 1 - (l % 2 == 0 ? 0 : 4);
            Assert.Equal(0.5f * 3 * q, y[e]);
        }
    }

    [Fact]
    public void F16AndBF16_FastPathsMatchScalarOnEveryFiniteValue()
    {
        var bits = new List<ushort>();
        for (var v = 0; v < 65536; v++)
            if (!System.Half.IsNaN(BitConverter.UInt16BitsToHalf((ushort)v)) && !System.Half.IsInfinity(BitConverter.UInt16BitsToHalf((ushort)v)))
                bits.Add((ushort)v);
        var bytes = new byte[bits.Count * 2];
        Buffer.BlockCopy(bits.ToArray(), 0, bytes, 0, bytes.Length);
        var y = Decode(GgmlType.F16, bytes, bits.Count);
        for (var i = 0; i < bits.Count; i++) Assert.Equal((float)BitConverter.UInt16BitsToHalf(bits[i]), y[i]);
        var yb = Decode(GgmlType.BF16, bytes, bits.Count);
        for (var i = 0; i < bits.Count; i++) Assert.Equal(BitConverter.Int32BitsToSingle(bits[i] << 16), yb[i]);
    }

    /// <summary>Relative RMS error of llama.cpp's own quantization of the same weights; a misread block is ~1.</summary>
    [Theory]
    [InlineData("F16", 0.001)]
    [InlineData("Q8_0", 0.01)]
    [InlineData("Q6_K", 0.03)]
    [InlineData("Q5_K_M", 0.06)]
    [InlineData("Q4_K_M", 0.12)]
    [InlineData("Q4_0", 0.15)]
    public void RealQuantizedTensors_DecodeCloseToTheirF32Source(string kind, double tolerance)
    {
        using var f32 = GgufFile.Open(RepoPaths.Model("rand-small", "rand-small-F32.gguf"));
        using var q = GgufFile.Open(RepoPaths.Model("rand-small", $"rand-small-{kind}.gguf"));
        var types = new HashSet<GgmlType>();
        foreach (var t in q.Tensors)
        {
            var reference = f32.Tensor(t.Name);
            var n = checked((int)t.ElementCount);
            var got = new float[n];
            Dequantize.RowScalar(t.Type, t.Pointer, got);
            var want = new ReadOnlySpan<float>(reference.Pointer, n);
            double err = 0, norm = 0;
            for (var i = 0; i < n; i++)
            {
                err += (got[i] - want[i]) * (double)(got[i] - want[i]);
                norm += want[i] * (double)want[i];
            }
            var rel = Math.Sqrt(err / Math.Max(norm, 1e-30));
            var tol = t.Type == GgmlType.F32 ? 0 : t.Type == GgmlType.Q6_K ? Math.Min(tolerance, 0.03) : tolerance;
            Assert.True(rel <= tol, $"{kind} {t.Name} ({t.Type}): relative RMS error {rel:F4} > {tol}");
            types.Add(t.Type);
            var fast = new float[n];
            Dequantize.Row(t.Type, t.Pointer, fast);
            Assert.Equal(got, fast);
        }
        Assert.Contains(types, ty => ty != GgmlType.F32);
    }
}
