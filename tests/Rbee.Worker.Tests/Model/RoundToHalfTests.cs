using Rbee.Worker.Model;

namespace Rbee.Worker.Tests.Model;

/// <summary>The fp16 rounding of the KV cache and the attention accumulator must be exactly the hardware's (RNE).</summary>
public sealed class RoundToHalfTests
{
    [Fact]
    public void RoundToHalf_EqualsHalfCast_OnRandomTiesAndSubnormals()
    {
        var rng = new Random(7);
        var values = new List<float> { 0f, -0f, 1f, -1f, 65504f, 6.1035156e-5f, 5.9604645e-8f, 2.9802322e-8f, 8.940697e-8f };
        // Exact ties between two fp16 neighbours (low 13 significand bits 0x1000), both parities.
        for (var i = 0; i < 2000; i++)
            values.Add(BitConverter.Int32BitsToSingle((rng.Next(0x38800000, 0x47000000) & ~0x1FFF) | 0x1000) * (i % 2 == 0 ? 1 : -1));
        // Random magnitudes across fp16's normal and subnormal range.
        for (var i = 0; i < 20000; i++)
            values.Add((float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-30, 15))));
        var x = values.ToArray();
        VectorOps.RoundToHalf(x);
        for (var i = 0; i < x.Length; i++)
            Assert.True(x[i] == (float)(Half)values[i], $"{values[i]:R}: {x[i]:R} vs {(float)(Half)values[i]:R}");
    }

    /// <summary>The cache store's conversion against the library's, bit for bit: every 2039th float bit pattern of both
    /// signs (normal, fp16-subnormal, past fp16's range), ties, the overflow boundary, zeros, infinities; NaN stays NaN.</summary>
    [Fact]
    public void ToHalf_EqualsHalfCast_BitForBit()
    {
        var values = new List<float> { 0f, -0f, 65504f, 65519.996f, 65520f, -65520f, 6.1035156e-5f, 6.1e-5f, 5.9604645e-8f, 2.9802322e-8f,
            -2.9802322e-8f, -1e-9f, 8.940697e-8f, 1e-30f, float.MaxValue, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon };
        for (var bits = 0u; bits < 0x7F800000u; bits += 2039)
        {
            values.Add(BitConverter.UInt32BitsToSingle(bits));
            values.Add(-BitConverter.UInt32BitsToSingle(bits));
        }
        while (values.Count % 8 != 0) values.Add(1f);
        var x = values.ToArray();
        var got = new ushort[x.Length];
        Assert.Equal(x.Length, VectorOps.ToHalf(x, got));
        for (var i = 0; i < x.Length; i++)
        {
            var want = BitConverter.HalfToUInt16Bits((Half)x[i]);
            if (want != got[i]) Assert.Fail($"{x[i]:R} (0x{BitConverter.SingleToUInt32Bits(x[i]):X8}): (Half) 0x{want:X4}, ToHalf 0x{got[i]:X4}");
        }
        var nan = new ushort[8];
        VectorOps.ToHalf(new[] { float.NaN, -float.NaN, 1, 1, 1, 1, 1, 1 }, nan);
        Assert.True(Half.IsNaN(BitConverter.UInt16BitsToHalf(nan[0])) && Half.IsNaN(BitConverter.UInt16BitsToHalf(nan[1])));
    }

    /// <summary>Vector RoPE against the scalar rotation, bit for bit, both pair styles, with a partial last vector.</summary>
    [Theory]
    [InlineData(RopeStyle.Normal, 64, 64)]
    [InlineData(RopeStyle.NeoX, 128, 128)]
    [InlineData(RopeStyle.Normal, 80, 40)]   // rotating part of the head only; pairs past the last whole vector
    [InlineData(RopeStyle.NeoX, 96, 40)]
    public void Rope_EqualsScalarRotation_BitForBit(RopeStyle style, int headDim, int ropeDims)
    {
        var rng = new Random(headDim + ropeDims);
        const int heads = 3;
        var v = new float[heads * headDim];
        for (var i = 0; i < v.Length; i++) v[i] = (rng.NextSingle() * 2 - 1) * MathF.Pow(2, rng.Next(-6, 6));
        var cos = new float[ropeDims / 2];
        var sin = new float[ropeDims / 2];
        for (var i = 0; i < cos.Length; i++)
        {
            var theta = 37 * MathF.Pow(10000f, -2f * i / ropeDims);
            cos[i] = MathF.Cos(theta);
            sin[i] = MathF.Sin(theta);
        }
        var want = (float[])v.Clone();
        for (var h = 0; h < heads; h++)
            for (var i = 0; i < ropeDims / 2; i++)
            {
                int a = style == RopeStyle.Normal ? 2 * i : i, b = style == RopeStyle.Normal ? a + 1 : i + ropeDims / 2;
                float x0 = want[h * headDim + a], x1 = want[h * headDim + b];
                want[h * headDim + a] = x0 * cos[i] - x1 * sin[i];
                want[h * headDim + b] = x0 * sin[i] + x1 * cos[i];
            }
        VectorOps.Rope(v, heads, headDim, ropeDims, style, cos, sin);
        for (var i = 0; i < v.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(want[i]) == BitConverter.SingleToInt32Bits(v[i]), $"value {i}: scalar {want[i]:R}, vector {v[i]:R}");
    }
}
