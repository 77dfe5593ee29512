using Rbee.Worker.Gguf;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Model;

/// <summary>
/// Reads one row of a tensor as floats: a token's embedding, or a small norm/bias vector at load. Every type goes
/// through the kernels' <see cref="Dequantize.Row"/>, the same decoder the matrix products use.
/// </summary>
internal static unsafe class EmbeddingLookup
{
    /// <summary>The tensor types the kernels decode; a model holding any other is refused at load.</summary>
    private static readonly HashSet<GgmlType> Decoded =
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16,
        GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
    ];

    public static bool Supports(GgmlType type) => Decoded.Contains(type);

    public static void Row(GgufTensor t, long row, Span<float> dst)
    {
        var cols = (int)t.Columns;
        if (row < 0 || row >= t.Rows) throw new ArgumentOutOfRangeException(nameof(row), row, $"tensor '{t.Name}' has {t.Rows} rows");
        Dequantize.Row(t.Type, t.Pointer + row * GgmlTypeInfo.RowBytes(t.Type, cols), dst[..cols]);
    }
}
