using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rbee.Worker.Model;

/// <summary>The element-wise and reduction steps of the forward pass that are not matrix products.</summary>
internal static class VectorOps
{
    /// <summary>y = x / √(mean(x²) + ε) · w, as ggml_rms_norm (sum in double) followed by the weight multiply.</summary>
    public static unsafe void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, Span<float> y)
    {
        fixed (float* px = x) Scale(x, w, eps, SumOfSquares(px, x.Length), y);
    }

    /// <summary>
    /// Σ x², each square in double (exact: a float's square fits a double's mantissa) added in order, as ggml_rms_norm.
    /// The squares are taken four at a time in a vector and only the additions run one by one: converted one value at
    /// a time, each conversion waited for the previous square (vcvtss2sd keeps its destination's upper bits), which
    /// doubled the chain the additions alone make.
    /// </summary>
    private static unsafe double SumOfSquares(float* x, int n)
    {
        double sum = 0;
        var i = 0;
        if (Avx.IsSupported)
            for (; i + 4 <= n; i += 4)
            {
                var d = Avx.ConvertToVector256Double(Vector128.Load(x + i));
                var sq = d * d;
                sum += sq.GetElement(0);
                sum += sq.GetElement(1);
                sum += sq.GetElement(2);
                sum += sq.GetElement(3);
            }
        for (; i < n; i++) sum += (double)x[i] * x[i];
        return sum;
    }

    /// <summary>
    /// <see cref="RmsNorm"/> of <paramref name="rows"/> consecutive rows of <paramref name="n"/> values (a prompt step's
    /// tokens, a batched decode step's sequences), bit for bit row by row: four rows' sums run in one vector of doubles,
    /// lane k row k's, so each row still adds its squares in order while the four share one chain of additions.
    /// </summary>
    public static unsafe void RmsNormRows(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, Span<float> y, int rows, int n)
    {
        if ((long)rows * n > x.Length || (long)rows * n > y.Length || w.Length < n)
            throw new ArgumentException($"{rows} rows of {n} values do not fit x ({x.Length}), y ({y.Length}) or w ({w.Length})");
        var r = 0;
        fixed (float* px = x)
        {
            for (; Avx.IsSupported && r + 4 <= rows; r += 4)
            {
                float* a = px + (long)r * n, b = a + n, c = b + n, d = c + n;
                var sums = Vector256<double>.Zero;
                var i = 0;
                for (; i + 4 <= n; i += 4)
                {
                    // The 4×4 block of values i..i+3 of the four rows, turned so that vector k holds value i+k of each.
                    Vector128<float> va = Vector128.Load(a + i), vb = Vector128.Load(b + i), vc = Vector128.Load(c + i), vd = Vector128.Load(d + i);
                    Vector128<float> ab01 = Sse.UnpackLow(va, vb), cd01 = Sse.UnpackLow(vc, vd), ab23 = Sse.UnpackHigh(va, vb), cd23 = Sse.UnpackHigh(vc, vd);
                    sums += Square(Sse.MoveLowToHigh(ab01, cd01));
                    sums += Square(Sse.MoveHighToLow(cd01, ab01));
                    sums += Square(Sse.MoveLowToHigh(ab23, cd23));
                    sums += Square(Sse.MoveHighToLow(cd23, ab23));
                }
                double s0 = sums.GetElement(0), s1 = sums.GetElement(1), s2 = sums.GetElement(2), s3 = sums.GetElement(3);
                for (; i < n; i++)
                {
                    s0 += (double)a[i] * a[i];
                    s1 += (double)b[i] * b[i];
                    s2 += (double)c[i] * c[i];
                    s3 += (double)d[i] * d[i];
                }
                Scale(x.Slice(r * n, n), w, eps, s0, y.Slice(r * n, n));
                Scale(x.Slice((r + 1) * n, n), w, eps, s1, y.Slice((r + 1) * n, n));
                Scale(x.Slice((r + 2) * n, n), w, eps, s2, y.Slice((r + 2) * n, n));
                Scale(x.Slice((r + 3) * n, n), w, eps, s3, y.Slice((r + 3) * n, n));
            }
        }
        for (; r < rows; r++) RmsNorm(x.Slice(r * n, n), w, eps, y.Slice(r * n, n));

        static Vector256<double> Square(Vector128<float> v)
        {
            var d = Avx.ConvertToVector256Double(v);
            return d * d;
        }
    }

    /// <summary>RmsNorm's second half: y = x · (1/√(mean + ε)) · w from the sum of squares, eight at a time where
    /// vectors run (the same two roundings per value).</summary>
    private static void Scale(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, double sum, Span<float> y)
    {
        var mean = (float)(sum / x.Length);
        var scale = 1f / MathF.Sqrt(mean + eps);
        if (w.Length < x.Length || y.Length < x.Length) throw new ArgumentException("w and y must hold x's length");
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(scale);
            ref var rx = ref MemoryMarshal.GetReference(x);
            ref var rw = ref MemoryMarshal.GetReference(w);
            ref var ry = ref MemoryMarshal.GetReference(y);
            for (; i + 8 <= x.Length; i += 8)
                (Vector256.LoadUnsafe(ref rx, (nuint)i) * vs * Vector256.LoadUnsafe(ref rw, (nuint)i)).StoreUnsafe(ref ry, (nuint)i);
        }
        for (; i < x.Length; i++) y[i] = x[i] * scale * w[i];
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

    /// <summary>
    /// Rounds every value to the nearest fp16 value (ties to even), kept as float: what storing to and loading from an
    /// fp16 tensor does. Finite results only (values past fp16's ±65504 are not clamped to infinity).
    /// </summary>
    public static void RoundToHalf(Span<float> x)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var v = MemoryMarshal.Cast<float, Vector256<float>>(x);
            for (var j = 0; j < v.Length; j++) v[j] = RoundToHalf(v[j]);
            i = v.Length * Vector256<float>.Count;
        }
        for (; i < x.Length; i++) x[i] = (float)(Half)x[i];
    }

    /// <summary>
    /// x as fp16 bits, eight at a time, as <c>(Half)x</c> gives for every non-NaN x (a NaN stays a NaN); returns how many
    /// values it converted (whole vectors), the caller converts the rest.
    /// </summary>
    public static int ToHalf(ReadOnlySpan<float> x, Span<ushort> bits)
    {
        if (!Vector256.IsHardwareAccelerated || bits.Length < x.Length) return 0;
        var v = MemoryMarshal.Cast<float, Vector256<float>>(x);
        for (var k = 0; k < v.Length; k++)
        {
            var h = ToHalfBits(v[k]);
            Vector128.Narrow(h.GetLower(), h.GetUpper()).CopyTo(bits.Slice(8 * k, 8));
        }
        return v.Length * Vector256<float>.Count;
    }

    /// <summary>
    /// Eight floats as fp16 bits (in the low 16 bits of each lane): rounded to fp16 precision first
    /// (<see cref="RoundToHalf(Vector256{float})"/>, ties to even), which leaves an exactly representable value, then
    /// re-encoded: normal values by moving the exponent's bias and dropping the 13 low significand bits, subnormal ones
    /// (below 2^-14) as their multiple of 2^-24, and anything that rounded past 65504 as infinity.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> ToHalfBits(Vector256<float> x)
    {
        // The sign is x's: a tiny negative value that rounds to zero is −0 in fp16, and the rounding above loses it.
        var sign = (x.AsUInt32() >> 16) & Vector256.Create(0x8000u);
        var magnitude = RoundToHalf(x).AsUInt32() & Vector256.Create(0x7FFFFFFFu);
        var normal = Vector256.Min((magnitude >> 13) - Vector256.Create(112u << 10), Vector256.Create(0x7C00u));
        var tiny = Vector256.ConvertToInt32(magnitude.AsSingle() * Vector256.Create(16777216f)).AsUInt32(); // × 2^24: exact
        var half = Vector256.ConditionalSelect(Vector256.LessThan(magnitude, Vector256.Create(0x38800000u)), tiny, normal);
        var nan = ~Vector256.Equals(x, x).AsUInt32();
        return Vector256.ConditionalSelect(nan, Vector256.Create(0x7E00u), half) | sign;
    }

    /// <summary>
    /// Eight values rounded to fp16 precision. Normal fp16 range: round the float's 23-bit significand to 10 bits,
    /// ties to even, in the integer domain (a carry moves into the exponent, as it should). Below 2^-14 fp16 is
    /// subnormal with a fixed step of 2^-24: adding and removing 0.75 (whose ulp is 2^-24) rounds to that step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> RoundToHalf(Vector256<float> x)
    {
        var bits = x.AsUInt32();
        var lsb = Vector256.ShiftRightLogical(bits, 13) & Vector256.Create(1u);
        var normal = (bits + Vector256.Create(0xFFFu) + lsb) & Vector256.Create(~0x1FFFu);
        var magic = Vector256.Create(0.75f);
        var tiny = (x + magic) - magic;
        var isTiny = Vector256.LessThan(bits & Vector256.Create(0x7FFFFFFFu), Vector256.Create(0x38800000u));
        return Vector256.ConditionalSelect(isTiny.AsSingle(), tiny, normal.AsSingle());
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

    /// <summary>
    /// SwiGLU: gate = silu(gate) · up, eight at a time (a prompt batch has n·n_ff of them: one scalar exp each was a
    /// few percent of prefill; the vector exp differs from MathF.Exp by at most an ulp or so, as ggml's own does).
    /// A last part of fewer than eight goes through the same vector arithmetic, so every value's result is the same
    /// wherever it lies in the span: a token's gate in a batch of tokens is bit for bit its gate alone, also where
    /// n_ff is no multiple of eight.
    /// </summary>
    public static void SiluMul(Span<float> gate, ReadOnlySpan<float> up)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var g = MemoryMarshal.Cast<float, Vector256<float>>(gate);
            var u = MemoryMarshal.Cast<float, Vector256<float>>(up[..gate.Length]);
            for (var k = 0; k < g.Length; k++) g[k] = SiluMul(g[k], u[k]);
            i = g.Length * Vector256<float>.Count;
            var rest = gate.Length - i;
            if (rest == 0) return;
            Span<float> lastGate = stackalloc float[Vector256<float>.Count], lastUp = stackalloc float[Vector256<float>.Count];
            gate[i..].CopyTo(lastGate);
            up.Slice(i, rest).CopyTo(lastUp);
            SiluMul(Vector256.Create<float>(lastGate), Vector256.Create<float>(lastUp)).CopyTo(lastGate);
            lastGate[..rest].CopyTo(gate[i..]);
            return;
        }
        for (; i < gate.Length; i++)
        {
            var g = gate[i];
            gate[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }

    private static Vector256<float> SiluMul(Vector256<float> g, Vector256<float> u) => g / (Vector256<float>.One + Vector256.Exp(-g)) * u;

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
            var i = Vector256.IsHardwareAccelerated && Avx2.IsSupported ? RopeHead(x, half, style, cos, sin) : 0;
            for (; i < half; i++)
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

    /// <summary>
    /// <see cref="Rope"/> of one head, eight values at a time, bit for bit the scalar loop: each output is the same two
    /// rounded products and one rounded sum or difference (x0·c − x1·s as x0·c + (−(x1·s)), exact negation). Returns
    /// how many rotation pairs it did; the caller does the rest.
    /// </summary>
    private static unsafe int RopeHead(Span<float> x, int half, RopeStyle style, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        fixed (float* px = x)
        fixed (float* pc = cos)
        fixed (float* ps = sin)
        {
            var i = 0;
            if (style == RopeStyle.Normal)
            {
                // Four adjacent pairs per vector: lanes (2k, 2k+1) take angle k, doubled by a permute; the pair swap
                // brings x1 beside x0 and x0 beside x1.
                var dup = Vector256.Create(0, 0, 1, 1, 2, 2, 3, 3);
                var sign = Vector256.Create(-1f, 1f, -1f, 1f, -1f, 1f, -1f, 1f);
                for (; i + 4 <= half; i += 4)
                {
                    var p = px + 2 * i;
                    var v = Vector256.Load(p);
                    var c = Avx2.PermuteVar8x32(Vector256.Create(Vector128.Load(pc + i), Vector128<float>.Zero), dup);
                    var sn = Avx2.PermuteVar8x32(Vector256.Create(Vector128.Load(ps + i), Vector128<float>.Zero), dup);
                    var swapped = Avx.Permute(v, 0b10_11_00_01);
                    (v * c + (swapped * sn) * sign).Store(p);
                }
                return i;
            }
            for (; i + 8 <= half; i += 8)
            {
                float* a = px + i, b = a + half;
                Vector256<float> x0 = Vector256.Load(a), x1 = Vector256.Load(b), c = Vector256.Load(pc + i), sn = Vector256.Load(ps + i);
                (x0 * c - x1 * sn).Store(a);
                (x0 * sn + x1 * c).Store(b);
            }
            return i;
        }
    }
}
