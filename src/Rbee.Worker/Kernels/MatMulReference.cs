namespace Rbee.Worker.Kernels;

/// <summary>
/// The scalar reference of <see cref="MatMul"/>: decode each row with <see cref="Dequantize.RowScalar"/> and sum in
/// double. Slow on purpose; the tests hold every fast kernel to it.
/// </summary>
public static unsafe class MatMulReference
{
    public static void MatVec(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y)
    {
        var row = new float[w.Cols];
        for (var r = 0; r < w.Rows; r++)
        {
            Dequantize.RowScalar(w.Type, w.Row(r), row);
            double s = 0;
            for (var c = 0; c < w.Cols; c++) s += (double)row[c] * x[c];
            y[r] = (float)s;
        }
    }

    public static void MatMat(in WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y)
    {
        for (var i = 0; i < n; i++)
            MatVec(w, x.Slice(i * w.Cols, w.Cols), y.Slice(i * w.Rows, w.Rows));
    }
}
