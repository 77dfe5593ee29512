using Rbee.Worker.Gguf;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Tests.Kernels;

/// <summary>
/// <see cref="MatMul.MatMatGroup"/> (a layer's Wq/Wk/Wv or Wgate/Wup in one pass, the activations quantized once) gives
/// every matrix bit for bit what its own call gives: the same kernels and order, for one token, short prompts, panel
/// prompts and batched decode, with matrices of one activation format (shared) and of two (one call each).
/// </summary>
public sealed class MatMatGroupTests
{
    public static TheoryData<GgmlType, GgmlType, GgmlType> Groups() => new()
    {
        { GgmlType.Q4_0, GgmlType.Q4_0, GgmlType.Q4_0 },
        { GgmlType.Q4_K, GgmlType.Q4_K, GgmlType.Q6_K },
        { GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.F16 },
        { GgmlType.F16, GgmlType.F32, GgmlType.Q8_0 },
    };

    [Theory]
    [MemberData(nameof(Groups))]
    public void EachMatrix_IsBitForBitItsOwnCall(GgmlType a, GgmlType b, GgmlType c)
    {
        const int cols = 512;
        using var w0 = new RandomWeights(a, 40, cols, seed: 1);
        using var w1 = new RandomWeights(b, 17, cols, seed: 2);
        using var w2 = new RandomWeights(c, 24, cols, seed: 3);
        foreach (var invariant in new[] { false, true })
            foreach (var n in new[] { 1, 3, 5, 8, 13 })
            {
                var x = RandomWeights.Activations(n * cols, seed: n);
                var want = new[] { new float[n * 40], new float[n * 17], new float[n * 24] };
                var mats = new[] { w0.Matrix, w1.Matrix, w2.Matrix };
                for (var i = 0; i < 3; i++)
                    if (invariant) MatMul.MatMatInvariant(mats[i], x, n, want[i]);
                    else MatMul.MatMat(mats[i], x, n, want[i]);

                var three = new[] { new float[n * 40], new float[n * 17], new float[n * 24] };
                MatMul.MatMatGroup(x, n, invariant, w0.Matrix, three[0], w1.Matrix, three[1], w2.Matrix, three[2]);
                var two = new[] { new float[n * 40], new float[n * 17] };
                MatMul.MatMatGroup(x, n, invariant, w0.Matrix, two[0], w1.Matrix, two[1]);

                for (var i = 0; i < 3; i++)
                    Assert.True(want[i].AsSpan().SequenceEqual(three[i]), $"{a}/{b}/{c}, {n} tokens, invariant {invariant}: matrix {i} of three differs");
                for (var i = 0; i < 2; i++)
                    Assert.True(want[i].AsSpan().SequenceEqual(two[i]), $"{a}/{b}, {n} tokens, invariant {invariant}: matrix {i} of two differs");
            }
    }

    [Fact]
    public void MatricesOfDifferentWidths_AreRefused()
    {
        using var w0 = new RandomWeights(GgmlType.Q4_0, 8, 256, seed: 1);
        using var w1 = new RandomWeights(GgmlType.Q4_0, 8, 512, seed: 2);
        var x = RandomWeights.Activations(512, seed: 3);
        var e = Assert.Throws<ArgumentException>(() => MatMul.MatMatGroup(x, 1, false, w0.Matrix, new float[8], w1.Matrix, new float[8]));
        Assert.Contains("256, 512 columns", e.Message);
    }
}
