using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Rbee.Worker.Kernels;

/// <summary>
/// Activations quantized to 8 bits, the way fast CPU engines feed integer dot products: every 32 values share one
/// scale <c>d = max|x| / 127</c> and hold <c>q = round(x / d)</c>. Every 16 values also keep <c>d·Σq</c>, which
/// the kernels need for the constant part of a weight block (Q4_0's −8, the K-quants' mins, Q6_K's −32), so those
/// cost one multiply per block instead of a second integer dot. One buffer per calling thread, grown once and
/// reused: a token allocates nothing.
/// </summary>
internal sealed unsafe class Q8Activations
{
    public const int Block = 32;

    public sbyte* Q { get; private set; }
    public float* D { get; private set; }
    public float* Sum16 { get; private set; }
    public int Cols { get; private set; }
    public int Tokens { get; private set; }
    private long _capacity;

    [ThreadStatic] private static Q8Activations? _forThread;

    /// <summary>This thread's buffer, quantizing <paramref name="n"/> rows of <paramref name="cols"/> values.</summary>
    public static Q8Activations Quantize(float* x, int cols, int n)
    {
        var a = _forThread ??= new Q8Activations();
        a.Fill(x, cols, n);
        return a;
    }

    public void Fill(float* x, int cols, int n)
    {
        if (cols % Block != 0) throw new ArgumentException($"{cols} columns are not a whole number of 32-blocks");
        var total = (long)cols * n;
        if (total > _capacity)
        {
            Free();
            _capacity = Math.Max(total, 4096);
            Q = (sbyte*)NativeMemory.AlignedAlloc((nuint)_capacity, 64);
            D = (float*)NativeMemory.AlignedAlloc((nuint)(_capacity / Block * sizeof(float)), 64);
            Sum16 = (float*)NativeMemory.AlignedAlloc((nuint)(_capacity / 16 * sizeof(float)), 64);
        }
        Cols = cols;
        Tokens = n;
        var blocks = total / Block;
        for (long b = 0; b < blocks; b++) QuantizeBlock(x + b * Block, Q + b * Block, D + b, Sum16 + 2 * b);
    }

    public sbyte* TokenQ(int t) => Q + (long)t * Cols;
    public float* TokenD(int t) => D + (long)t * (Cols / Block);
    public float* TokenSum16(int t) => Sum16 + (long)t * (Cols / 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void QuantizeBlock(float* x, sbyte* q, float* d, float* s16)
    {
        if (Vector256.IsHardwareAccelerated)
        {
            var v0 = Vector256.Load(x);
            var v1 = Vector256.Load(x + 8);
            var v2 = Vector256.Load(x + 16);
            var v3 = Vector256.Load(x + 24);
            var m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
            var amax = Vector128.Max(m.GetLower(), m.GetUpper());
            amax = Vector128.Max(amax, Vector128.Shuffle(amax, Vector128.Create(2, 3, 0, 1)));
            amax = Vector128.Max(amax, Vector128.Shuffle(amax, Vector128.Create(1, 0, 3, 2)));
            var max = amax.ToScalar();
            var scale = max / 127f;
            var inv = Vector256.Create(max == 0 ? 0f : 127f / max);
            var i0 = Vector256.ConvertToInt32(Vector256.Round(v0 * inv));
            var i1 = Vector256.ConvertToInt32(Vector256.Round(v1 * inv));
            var i2 = Vector256.ConvertToInt32(Vector256.Round(v2 * inv));
            var i3 = Vector256.ConvertToInt32(Vector256.Round(v3 * inv));
            var packed = Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3));
            packed.Store(q);
            *d = scale;
            s16[0] = scale * Vector256.Sum(i0 + i1);
            s16[1] = scale * Vector256.Sum(i2 + i3);
            return;
        }
        ScalarBlock(x, q, d, s16);
    }

    /// <summary>The scalar reference of one block (ties round away from zero in both: MathF.Round is to-even,
    /// so both paths use it).</summary>
    internal static void ScalarBlock(float* x, sbyte* q, float* d, float* s16)
    {
        float max = 0;
        for (var i = 0; i < Block; i++) max = MathF.Max(max, MathF.Abs(x[i]));
        var scale = max / 127f;
        var inv = max == 0 ? 0f : 127f / max;
        int s0 = 0, s1 = 0;
        for (var i = 0; i < Block; i++)
        {
            var v = (int)MathF.Round(x[i] * inv);
            q[i] = (sbyte)v;
            if (i < 16) s0 += v; else s1 += v;
        }
        *d = scale;
        s16[0] = scale * s0;
        s16[1] = scale * s1;
    }

    /// <summary>The values the quantized activations stand for (q·d), for reference checks.</summary>
    public float[] Dequantized(int t)
    {
        var y = new float[Cols];
        var q = TokenQ(t);
        var d = TokenD(t);
        for (var i = 0; i < Cols; i++) y[i] = q[i] * d[i / Block];
        return y;
    }

    private void Free()
    {
        if (Q != null) NativeMemory.AlignedFree(Q);
        if (D != null) NativeMemory.AlignedFree(D);
        if (Sum16 != null) NativeMemory.AlignedFree(Sum16);
        Q = null;
        D = null;
        Sum16 = null;
    }

    ~Q8Activations() => Free();
}
