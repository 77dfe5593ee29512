namespace Rbee.Worker.Kernels;

/// <summary>
/// The engine's entry points into the kernels. The model calls only these; the kernels pick the SIMD path per type.
/// SEAM: for now only F32 with a scalar loop, so the model can be brought up; the Kernels work replaces the body.
/// </summary>
public static unsafe class MatMul
{
    /// <summary>y[r] = Σ_c W[r,c]·x[c] for every row r. x has W.Cols values, y has W.Rows.</summary>
    public static void MatVec(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Length < w.Cols || y.Length < w.Rows) throw new ArgumentException("x or y too short for the matrix");
        if (w.Type != Gguf.GgmlType.F32) throw new NotSupportedException($"tensor type {w.Type} has no kernel yet");
        for (var r = 0; r < w.Rows; r++)
        {
            var row = new ReadOnlySpan<float>(w.Row(r), w.Cols);
            float s = 0;
            for (var c = 0; c < w.Cols; c++) s += row[c] * x[c];
            y[r] = s;
        }
    }

    /// <summary>Y[n, r] = Σ_c W[r,c]·X[n, c] for n tokens: X is n×Cols, Y is n×Rows, both row-major.</summary>
    public static void MatMat(in WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y)
    {
        for (var i = 0; i < n; i++)
            MatVec(w, x.Slice(i * w.Cols, w.Cols), y.Slice(i * w.Rows, w.Rows));
    }
}
