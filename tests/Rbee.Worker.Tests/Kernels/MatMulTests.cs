using Rbee.Worker.Gguf;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Tests.Kernels;

/// <summary>
/// MatVec/MatMat of every type against the scalar reference (decode, then dot in double). Quantized paths quantize
/// the activations to 8 bits, so the bound is relative to the size of the terms, Σ|w·x|, not to the result.
/// </summary>
public class MatMulTests
{
    public static TheoryData<GgmlType> AllTypes() =>
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0,
        GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
    ];

    internal static unsafe float[] AbsTerms(in WeightMatrix w, float[] x, int n)
    {
        var y = new float[n * w.Rows];
        var row = new float[w.Cols];
        for (var r = 0; r < w.Rows; r++)
        {
            Dequantize.RowScalar(w.Type, w.Row(r), row);
            for (var t = 0; t < n; t++)
            {
                double s = 0;
                for (var c = 0; c < w.Cols; c++) s += Math.Abs((double)row[c] * x[t * w.Cols + c]);
                y[t * w.Rows + r] = (float)s;
            }
        }
        return y;
    }

    /// <summary>8-bit activations cost about 1/127 of each term's size; float paths are near exact.</summary>
    private static double Tolerance(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 ? 1e-5 : 0.02;

    internal static void AssertClose(GgmlType type, float[] want, float[] got, float[] terms, string what)
    {
        for (var i = 0; i < want.Length; i++)
        {
            var bound = Tolerance(type) * terms[i] + 1e-6;
            Assert.True(Math.Abs(want[i] - got[i]) <= bound,
                $"{type} {what}[{i}]: reference {want[i]}, kernel {got[i]}, allowed ±{bound}");
        }
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void MatVec_MatchesReference(GgmlType type)
    {
        foreach (var (rows, cols) in new[] { (1, 256), (37, 512), (130, 1024), (5, 2816) })
        {
            using var w = new RandomWeights(type, rows, cols, seed: rows * 31 + cols);
            var x = RandomWeights.Activations(cols, seed: rows);
            var want = new float[rows];
            var got = new float[rows];
            MatMulReference.MatVec(w.Matrix, x, want);
            MatMul.MatVec(w.Matrix, x, got);
            AssertClose(type, want, got, AbsTerms(w.Matrix, x, 1), $"{rows}x{cols} y");
        }
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void MatMat_MatchesReference(GgmlType type)
    {
        foreach (var (rows, cols, n) in new[] { (33, 256, 1), (67, 512, 7), (19, 768, 16), (130, 256, 33) })
        {
            using var w = new RandomWeights(type, rows, cols, seed: rows + cols + n);
            var x = RandomWeights.Activations(n * cols, seed: n);
            var want = new float[n * rows];
            var got = new float[n * rows];
            MatMulReference.MatMat(w.Matrix, x, n, want);
            MatMul.MatMat(w.Matrix, x, n, got);
            AssertClose(type, want, got, AbsTerms(w.Matrix, x, n), $"{rows}x{cols}·{n} Y");
        }
    }
}
