namespace Rbee.Worker.Kernels;

/// <summary>
/// The engine's entry points into the kernels. The model calls only these; the kernels pick the SIMD path per type.
/// </summary>
public static unsafe class MatMul
{
    /// <summary>y[r] = Σ_c W[r,c]·x[c] for every row r. x has W.Cols values, y has W.Rows.</summary>
    public static void MatVec(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Length < w.Cols || y.Length < w.Rows) throw new ArgumentException("x or y too short for the matrix");
        var row = new float[w.Cols];
        fixed (float* px = x)
        fixed (float* pr = row)
        {
            for (var r = 0; r < w.Rows; r++)
            {
                Dequantize.Row(w.Type, w.Row(r), row);
                y[r] = FastConvert.Dot(pr, px, w.Cols);
            }
        }
    }

    /// <summary>Y[n, r] = Σ_c W[r,c]·X[n, c] for n tokens: X is n×Cols, Y is n×Rows, both row-major.</summary>
    public static void MatMat(in WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y)
    {
        if (x.Length < n * w.Cols || y.Length < n * w.Rows) throw new ArgumentException("x or y too short for the matrix");
        for (var i = 0; i < n; i++)
            MatVec(w, x.Slice(i * w.Cols, w.Cols), y.Slice(i * w.Rows, w.Rows));
    }
}
