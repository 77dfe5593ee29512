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
}
