using Rbee.Worker.Gguf;

namespace Rbee.Worker.Model;

/// <summary>
/// Reads one row of a tensor as floats: a token's embedding, or a small norm/bias vector at load.
/// F32, F16 and BF16 are converted here; block-quantized rows go to the kernels' dequantizer.
/// </summary>
internal static unsafe class EmbeddingLookup
{
    /// <summary>Whether rows of this type can be read (and so whether the model accepts tensors of it).</summary>
    public static bool Supports(GgmlType type) => GgmlTypeInfo.Layout(type) is not null;

    public static void Row(GgufTensor t, long row, Span<float> dst)
    {
        var cols = (int)t.Columns;
        if (row < 0 || row >= t.Rows) throw new ArgumentOutOfRangeException(nameof(row), row, $"tensor '{t.Name}' has {t.Rows} rows");
        var src = t.Pointer + row * GgmlTypeInfo.RowBytes(t.Type, cols);
        switch (t.Type)
        {
            case GgmlType.F32:
                new ReadOnlySpan<float>(src, cols).CopyTo(dst);
                break;
            case GgmlType.F16:
            {
                var h = new ReadOnlySpan<Half>(src, cols);
                for (var i = 0; i < cols; i++) dst[i] = (float)h[i];
                break;
            }
            case GgmlType.BF16:
            {
                var b = new ReadOnlySpan<ushort>(src, cols);
                for (var i = 0; i < cols; i++) dst[i] = BitConverter.Int32BitsToSingle(b[i] << 16);
                break;
            }
            default:
                throw new NotSupportedException($"tensor '{t.Name}': rows of type {t.Type} cannot be read yet");
        }
    }
}
