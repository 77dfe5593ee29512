using Rbee.Testing;
using Rbee.Worker.Gguf;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Tests.Kernels;

/// <summary>Quantize → dequantize round trips stay within each type's error bound; formats are bit-compatible with
/// the decoder (and so with llama.cpp's blocks, which the decoder reads per <see cref="DequantizeTests"/>).</summary>
public unsafe class QuantizeTests
{
    [Theory]
    [InlineData(GgmlType.F32, 0.0)]
    [InlineData(GgmlType.F16, 0.001)]
    [InlineData(GgmlType.BF16, 0.005)]
    [InlineData(GgmlType.Q8_0, 0.01)]
    [InlineData(GgmlType.Q6_K, 0.03)]
    [InlineData(GgmlType.Q5_K, 0.06)]
    [InlineData(GgmlType.Q4_K, 0.12)]
    [InlineData(GgmlType.Q4_0, 0.15)]
    public void RoundTrip_RelativeRmsErrorWithinBound(GgmlType type, double bound)
    {
        // Real weights (the F32 rand-small model) and a Gaussian-ish synthetic set with outliers.
        using var f32 = GgufFile.Open(RepoPaths.Model("rand-small", "rand-small-F32.gguf"));
        var real = new ReadOnlySpan<float>(f32.Tensor("blk.0.ffn_down.weight").Pointer, 768 * 256).ToArray();
        var rnd = new Random(3);
        var synth = new float[256 * 64];
        for (var i = 0; i < synth.Length; i++) synth[i] = (float)((rnd.NextDouble() + rnd.NextDouble() + rnd.NextDouble() - 1.5) * (i % 97 == 0 ? 8 : 1));
        foreach (var x in new[] { real, synth })
        {
            var bytes = new byte[GgmlTypeInfo.RowBytes(type, x.Length)];
            Quantize.Row(type, x, bytes);
            var back = new float[x.Length];
            fixed (byte* p = bytes) Dequantize.RowScalar(type, p, back);
            double err = 0, norm = 0;
            for (var i = 0; i < x.Length; i++)
            {
                err += (back[i] - x[i]) * (double)(back[i] - x[i]);
                norm += x[i] * (double)x[i];
            }
            var rel = Math.Sqrt(err / norm);
            Assert.True(rel <= bound, $"{type}: relative RMS error {rel:F4} > {bound}");
            if (type != GgmlType.F32) Assert.True(rel > 0, $"{type}: a lossy type reproduced every value exactly");
        }
    }

    [Fact]
    public void Q4_K_ExactlyRepresentableBlock_RoundTripsExactly()
    {
        // Sub-block s holds 0..15 times 0.5 minus nothing: scale 0.5 = d·sc with d = 0.5/63·…, so check closeness
        // to the grid rather than exact halves, plus that the zero min survives.
        var x = new float[256];
        for (var i = 0; i < 256; i++) x[i] = (i % 16) * 0.25f;
        var bytes = new byte[144];
        Quantize.Row(GgmlType.Q4_K, x, bytes);
        var back = new float[256];
        fixed (byte* p = bytes) Dequantize.RowScalar(GgmlType.Q4_K, p, back);
        for (var i = 0; i < 256; i++) Assert.True(Math.Abs(back[i] - x[i]) < 0.01, $"[{i}] {x[i]} → {back[i]}");
    }
}
