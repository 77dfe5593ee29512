using System.Runtime.InteropServices;
using Rbee.Worker.Gguf;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Tests.Kernels;

/// <summary>
/// Random weight matrices of any block type in native memory: random bits everywhere, with the fp16 scale fields
/// overwritten by sane values so every block decodes to finite numbers. Freed on dispose.
/// </summary>
internal sealed unsafe class RandomWeights : IDisposable
{
    public WeightMatrix Matrix { get; }
    private readonly byte* _data;

    public RandomWeights(GgmlType type, int rows, int cols, int seed)
    {
        var rnd = new Random(seed);
        var rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        var total = rowBytes * rows;
        _data = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(total, 1), 64);
        var span = new Span<byte>(_data, checked((int)total));
        rnd.NextBytes(span);
        var (bs, bb) = GgmlTypeInfo.Layout(type)!.Value;
        var blocks = total / bb;
        for (long b = 0; b < blocks; b++)
        {
            var p = _data + b * bb;
            switch (type)
            {
                case GgmlType.F32: *(float*)p = (float)(rnd.NextDouble() * 2 - 1); break;
                case GgmlType.F16: *(Half*)p = (Half)(rnd.NextDouble() * 2 - 1); break;
                case GgmlType.BF16: *(ushort*)p = (ushort)(BitConverter.SingleToInt32Bits((float)(rnd.NextDouble() * 2 - 1)) >> 16); break;
                default:
                    foreach (var at in HalfFields(type)) *(Half*)(p + at) = (Half)((rnd.NextDouble() * 2 - 1) * 0.05);
                    break;
            }
        }
        Matrix = new WeightMatrix(type, rows, cols, _data);
    }

    /// <summary>Offsets of the fp16 fields (d, dmin, m) inside one block.</summary>
    public static int[] HalfFields(GgmlType type) => type switch
    {
        GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q8_0 => [0],
        GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K => [0, 2],
        GgmlType.Q2_K => [80, 82],
        GgmlType.Q3_K => [108],
        GgmlType.Q6_K => [208],
        _ => throw new ArgumentException($"no block layout for {type}"),
    };

    public static float[] Activations(int n, int seed)
    {
        var rnd = new Random(seed);
        var x = new float[n];
        for (var i = 0; i < n; i++) x[i] = (float)(rnd.NextDouble() * 2 - 1) * (i % 7 == 0 ? 4 : 1);
        return x;
    }

    public void Dispose() => NativeMemory.AlignedFree(_data);
}
