using Rbee.Worker.Gguf;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Tests.Kernels;

/// <summary>
/// <see cref="MatMul.MatMatInvariant"/>, the continuous-batching kernel: each sequence's outputs are bit for bit what
/// <see cref="MatMul.MatVec"/> gives that sequence alone, at odd row counts and odd numbers of sequences, for every
/// tensor type the engine runs (for the 32-value block types also at rows that are not whole groups of eight blocks); and they stay within the scalar reference's bounds.
/// Two, three, six and seven sequences take the four-sequence kernels with zeros making up the last four (MatMul pads
/// their activations).
/// </summary>
public sealed class BatchInvariantMatMulTests
{
    public static TheoryData<GgmlType> AllTypes() => MatMulTests.AllTypes();

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void EverySequence_IsBitIdenticalToItsMatVecAlone(GgmlType type)
    {
        (int, int, int)[] shapes = [(37, 256, 3), (1, 512, 5), (131, 768, 2), (67, 1024, 7), (9, 256, 4), (41, 512, 6)];
        // Rows that end past the last group of eight 32-blocks (the four-sequence kernels' tails), where the type allows.
        if (GgmlTypeInfo.Layout(type)!.Value.BlockSize == 32) shapes = [.. shapes, (5, 288, 4), (3, 96, 5), (7, 800, 2)];
        foreach (var (rows, cols, n) in shapes)
        {
            using var w = new RandomWeights(type, rows, cols, seed: 7 * rows + cols + n);
            var x = RandomWeights.Activations(n * cols, seed: rows + n);
            var batched = new float[n * rows];
            MatMul.MatMatInvariant(w.Matrix, x, n, batched);
            for (var s = 0; s < n; s++)
            {
                var alone = new float[rows];
                MatMul.MatVec(w.Matrix, x.AsSpan(s * cols, cols), alone);
                for (var r = 0; r < rows; r++)
                    Assert.True(BitConverter.SingleToInt32Bits(alone[r]) == BitConverter.SingleToInt32Bits(batched[s * rows + r]),
                        $"{type} {rows}x{cols}, sequence {s} of {n}, row {r}: alone {alone[r]:R}, batched {batched[s * rows + r]:R}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void Batched_MatchesTheScalarReference(GgmlType type)
    {
        const int rows = 45, cols = 512, n = 3;
        using var w = new RandomWeights(type, rows, cols, seed: 99);
        var x = RandomWeights.Activations(n * cols, seed: 5);
        var want = new float[n * rows];
        var got = new float[n * rows];
        MatMulReference.MatMat(w.Matrix, x, n, want);
        MatMul.MatMatInvariant(w.Matrix, x, n, got);
        MatMulTests.AssertClose(type, want, got, MatMulTests.AbsTerms(w.Matrix, x, n), $"{rows}x{cols}·{n} batched Y");
    }
}
