using System.Numerics;
using System.Runtime.InteropServices;

namespace Rbee.Worker.Model;

/// <summary>The element-wise and reduction steps of the forward pass that are not matrix products.</summary>
internal static class VectorOps
{
    /// <summary>y = x / √(mean(x²) + ε) · w, as ggml_rms_norm (sum in double) followed by the weight multiply.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, Span<float> y)
    {
        double sum = 0;
        for (var i = 0; i < x.Length; i++) sum += (double)x[i] * x[i];
        var mean = (float)(sum / x.Length);
        var scale = 1f / MathF.Sqrt(mean + eps);
        for (var i = 0; i < x.Length; i++) y[i] = x[i] * scale * w[i];
    }

    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var n = a.Length;
        var i = 0;
        float s = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var va = MemoryMarshal.Cast<float, Vector<float>>(a);
            var vb = MemoryMarshal.Cast<float, Vector<float>>(b[..n]);
            var acc = Vector<float>.Zero;
            for (var j = 0; j < va.Length; j++) acc += va[j] * vb[j];
            s = Vector.Sum(acc);
            i = va.Length * Vector<float>.Count;
        }
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>y += a · x.</summary>
    public static void Axpy(float a, ReadOnlySpan<float> x, Span<float> y)
    {
        var n = x.Length;
        var i = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var vx = MemoryMarshal.Cast<float, Vector<float>>(x);
            var vy = MemoryMarshal.Cast<float, Vector<float>>(y[..n]);
            var va = new Vector<float>(a);
            for (var j = 0; j < vx.Length; j++) vy[j] += va * vx[j];
            i = vx.Length * Vector<float>.Count;
        }
        for (; i < n; i++) y[i] += a * x[i];
    }

    /// <summary>y += x.</summary>
    public static void Add(ReadOnlySpan<float> x, Span<float> y) => Axpy(1f, x, y);

    /// <summary>In place, numerically stable (max subtracted first).</summary>
    public static void Softmax(Span<float> x)
    {
        var max = float.NegativeInfinity;
        foreach (var v in x) max = MathF.Max(max, v);
        double sum = 0;
        for (var i = 0; i < x.Length; i++)
        {
            var e = MathF.Exp(x[i] - max);
            x[i] = e;
            sum += e;
        }
        var inv = (float)(1.0 / sum);
        for (var i = 0; i < x.Length; i++) x[i] *= inv;
    }

    /// <summary>SwiGLU: gate = silu(gate) · up.</summary>
    public static void SiluMul(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (var i = 0; i < gate.Length; i++)
        {
            var g = gate[i];
            gate[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }

    /// <summary>
    /// Rotates the first <paramref name="ropeDims"/> values of each of <paramref name="heads"/> heads by the angles
    /// whose cosines and sines are given (one per pair). Normal style pairs (2i, 2i+1); NeoX pairs (i, i + n/2).
    /// </summary>
    public static void Rope(Span<float> v, int heads, int headDim, int ropeDims, RopeStyle style,
        ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        var half = ropeDims / 2;
        for (var h = 0; h < heads; h++)
        {
            var x = v.Slice(h * headDim, headDim);
            for (var i = 0; i < half; i++)
            {
                int a, b;
                if (style == RopeStyle.Normal) { a = 2 * i; b = a + 1; }
                else { a = i; b = i + half; }
                var x0 = x[a];
                var x1 = x[b];
                x[a] = x0 * cos[i] - x1 * sin[i];
                x[b] = x0 * sin[i] + x1 * cos[i];
            }
        }
    }
}
