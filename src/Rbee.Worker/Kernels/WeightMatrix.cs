using Rbee.Worker.Gguf;

namespace Rbee.Worker.Kernels;

/// <summary>
/// A weight matrix inside the model mapping: <see cref="Rows"/> rows of <see cref="Cols"/> values each, row-major,
/// every row a whole number of blocks of <see cref="Type"/>. This is ggml's layout: <c>y = W·x</c> reads one row
/// per output.
/// </summary>
public readonly unsafe struct WeightMatrix(GgmlType type, int rows, int cols, byte* data)
{
    public GgmlType Type { get; } = type;
    public int Rows { get; } = rows;
    public int Cols { get; } = cols;
    public byte* Data { get; } = data;
    /// <summary>Bytes per row, worked out once: kernels step through rows with it, and the type's layout lookup showed
    /// in decode profiles (2 % of a four-sequence step) when it ran per row.</summary>
    public long RowBytes { get; } = GgmlTypeInfo.RowBytes(type, cols);
    public byte* Row(int r) => Data + r * RowBytes;

    public static WeightMatrix From(GgufTensor t)
    {
        if (t.Dims.Length > 2 && t.Dims.Skip(2).Any(d => d != 1))
            throw new InvalidDataException($"tensor '{t.Name}' is not a matrix ({string.Join('×', t.Dims)})");
        if (t.Pointer == null) throw new NotSupportedException($"tensor '{t.Name}' has unsupported type {t.Type}");
        return new WeightMatrix(t.Type, checked((int)t.Rows), checked((int)t.Columns), t.Pointer);
    }
}
