using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rbee.Worker.Gguf;

namespace Rbee.Worker.Kernels;

/// <summary>
/// Prefill GEMM (<see cref="MatMul"/> with several tokens, not batch-invariant): a panel of weight rows is decoded
/// once per call into a small per-thread scratch (eight rows as decoded and interleaved: tens of KiB, in L2; the mapped
/// weights are never copied as a whole), then register tiles sweep it for every token of the batch, so each weight block is unpacked once for the
/// whole batch.
/// <para>
/// Quantized types decode eight rows at a time into one canonical, row-interleaved form: signed 8-bit values w
/// (Q8_0: q, Q4_0: q−8, Q4_K: q, Q6_K: q−32), a float scale per group (32 values; Q6_K 16) and row, and for Q4_K a
/// float offset per 32 values and row (its mins). Within a 32-value block, 32-byte vector k holds values 4k..4k+3
/// of the eight rows side by side, so one <c>vpdpbusd</c> of vector k with a token's four activation bytes
/// broadcast to every lane adds four products to each row's lane: after eight such dots the lanes hold the eight
/// rows' block sums, with no horizontal reduction, and one convert and one multiply-add finish the block for eight
/// rows. The activations enter as unsigned bytes q+128 (<see cref="Q8Activations.Tiles"/>); the excess 128·Σw of
/// each group is a per-row constant of the weights, so the integer accumulators start from −128·Σw instead of zero
/// and it costs nothing per token. A tile is eight rows × eight tokens: each weight vector load feeds eight dots.
/// F16 panels (four rows) are widened to float and swept with 4-row × 2-token FMA tiles. The reduction order differs
/// from the one-token kernels (results agree within rounding), which is why only the prefill path uses this.
/// </para>
/// </summary>
internal static unsafe class PanelGemm
{
    /// <summary>Rows of an F16 panel.</summary>
    public const int PanelRows = 4;

    /// <summary>Rows of an integer panel: one per 32-bit lane of a 256-bit vector.</summary>
    public const int IntRows = 8;

    /// <summary>
    /// Types with a panel decoder. Q8_0's products (255·127) overflow AVX2's 16-bit pair sums, so it needs VNNI;
    /// the 4- and 6-bit values fit.
    /// </summary>
    public static bool Handles(GgmlType type, bool vnni, int cols) => type switch
    {
        GgmlType.F16 or GgmlType.Q4_K or GgmlType.Q6_K or GgmlType.Q4_0 => true,
        GgmlType.Q8_0 => vnni,
        _ => false,
    };

    /// <summary>AVX-VNNI on this CPU: the production choice of integer dot.</summary>
    public static bool Vnni => AvxVnni.IsSupported;

    /// <summary>
    /// One thread's panels: an integer panel (values, and per group and row: start value −128·Σw, scale, offset)
    /// and an F16 panel of floats.
    /// </summary>
    private sealed class Panel
    {
        /// <summary>The eight rows as decoded, one after another (<c>cols</c> values each), before interleaving.</summary>
        public sbyte* Rows;
        public sbyte* W;
        public int* Start;
        public float* Scale;
        public float* Offset;
        public float* F;
        private int _cols;

        public void Ensure(int cols)
        {
            if (cols <= _cols) return;
            Free();
            _cols = Math.Max(cols, 1024);
            Rows = (sbyte*)NativeMemory.AlignedAlloc((nuint)(IntRows * _cols), 64);
            W = (sbyte*)NativeMemory.AlignedAlloc((nuint)(IntRows * _cols), 64);
            Start = (int*)NativeMemory.AlignedAlloc((nuint)(IntRows * _cols / 16 * sizeof(int)), 64);
            Scale = (float*)NativeMemory.AlignedAlloc((nuint)(IntRows * _cols / 16 * sizeof(float)), 64);
            Offset = (float*)NativeMemory.AlignedAlloc((nuint)(IntRows * _cols / 32 * sizeof(float)), 64);
            F = (float*)NativeMemory.AlignedAlloc((nuint)(PanelRows * _cols * sizeof(float)), 64);
        }

        private void Free()
        {
            if (Rows != null) NativeMemory.AlignedFree(Rows);
            if (W != null) NativeMemory.AlignedFree(W);
            if (Start != null) NativeMemory.AlignedFree(Start);
            if (Scale != null) NativeMemory.AlignedFree(Scale);
            if (Offset != null) NativeMemory.AlignedFree(Offset);
            if (F != null) NativeMemory.AlignedFree(F);
            Rows = null;
            W = null;
            Start = null;
            Scale = null;
            Offset = null;
            F = null;
        }

        ~Panel() => Free();
    }

    [ThreadStatic] private static Panel? _panel;

    /// <summary>
    /// Y[t, r] for rows r0..r1 and every token t of an integer-kernel type: <paramref name="xt"/>, <paramref name="dt"/>
    /// and <paramref name="st"/> are <see cref="Q8Activations"/>' <see cref="Q8Activations.Tiles"/>,
    /// <see cref="Q8Activations.TileD"/> and <see cref="Q8Activations.TileSum32"/>.
    /// </summary>
    public static void Int8(in WeightMatrix w, int r0, int r1, int n, byte* xt, float* dt, float* st, float* y, bool vnni)
    {
        var cols = w.Cols;
        var p = _panel ??= new Panel();
        p.Ensure(cols);
        for (var r = r0; r < r1; r += IntRows)
        {
            var rows = Math.Min(IntRows, r1 - r);
            // A short panel repeats its last row, so the tile always has eight; those results are not stored.
            for (var i = 0; i < IntRows; i++) DecodeRow(w.Type, w.Row(r + Math.Min(i, rows - 1)), cols, p, i);
            InterleaveRows(p, cols, halves: w.Type == GgmlType.Q6_K);
            Prefetch(w, r + IntRows, IntRows);
            switch (w.Type)
            {
                case GgmlType.Q6_K when vnni: Sweep<VnniDot, Sixteens>(p, cols, n, xt, dt, st, y + r, w.Rows, rows); break;
                case GgmlType.Q6_K: Sweep<Avx2Dot, Sixteens>(p, cols, n, xt, dt, st, y + r, w.Rows, rows); break;
                case GgmlType.Q4_K when vnni: Sweep<VnniDot, Offsets>(p, cols, n, xt, dt, st, y + r, w.Rows, rows); break;
                case GgmlType.Q4_K: Sweep<Avx2Dot, Offsets>(p, cols, n, xt, dt, st, y + r, w.Rows, rows); break;
                case var _ when vnni: Sweep<VnniDot, Plain>(p, cols, n, xt, dt, st, y + r, w.Rows, rows); break;
                default: Sweep<Avx2Dot, Plain>(p, cols, n, xt, dt, st, y + r, w.Rows, rows); break;
            }
        }
    }

    /// <summary>Y[t, r] for rows r0..r1 of an F16 matrix and every token t of the float activations x.</summary>
    public static void F16(in WeightMatrix w, int r0, int r1, int n, float* x, float* y)
    {
        var cols = w.Cols;
        var p = _panel ??= new Panel();
        p.Ensure(cols);
        for (var r = r0; r < r1; r += PanelRows)
        {
            var rows = Math.Min(PanelRows, r1 - r);
            for (var i = 0; i < PanelRows; i++)
                FastConvert.HalfToSingle((ushort*)w.Row(r + Math.Min(i, rows - 1)), new Span<float>(p.F + (long)i * cols, cols));
            Prefetch(w, r + PanelRows, PanelRows);
            SweepF16(p.F, cols, n, x, y + r, w.Rows, rows);
        }
    }

    /// <summary>
    /// Asks for the next panel's rows (into L2) before sweeping this one: the sweep is long enough to hide their
    /// arrival, whereas decoding straight from memory stalled on every panel (weights stream from RAM in prefill).
    /// </summary>
    private static void Prefetch(in WeightMatrix w, int r, int count)
    {
        if (!Sse.IsSupported) return;
        var rowBytes = GgmlTypeInfo.RowBytes(w.Type, w.Cols);
        for (var i = r; i < Math.Min(w.Rows, r + count); i++)
        {
            var row = w.Row(i);
            for (long o = 0; o < rowBytes; o += 64) Sse.Prefetch1(row + o);
        }
    }

    /// <summary>acc + the integer dot of 32 unsigned bytes with 32 signed bytes, in eight lanes of four products.</summary>
    internal interface IDot
    {
        static abstract Vector256<int> Dot(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s);
    }

    internal readonly struct VnniDot : IDot
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s) => AvxVnni.MultiplyWideningAndAdd(acc, u, s);
    }

    /// <summary>AVX2 without VNNI: exact while each pair u·s + u·s fits 16 bits (|s| ≤ 64 with u ≤ 255: the 4- and 6-bit types).</summary>
    internal readonly struct Avx2Dot : IDot
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s) =>
            acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256.Create((short)1));
    }

    /// <summary>How an integer panel's groups are laid out (static, so each sweep is compiled for one shape).</summary>
    internal interface IShape
    {
        /// <summary>A scale (and start value) per 16 values instead of per 32 (Q6_K).</summary>
        static abstract bool Halves { get; }

        /// <summary>A float offset per 32 values and row, times the activations' per-32 sums (Q4_K's mins).</summary>
        static abstract bool HasOffsets { get; }
    }

    internal readonly struct Plain : IShape
    {
        public static bool Halves => false;
        public static bool HasOffsets => false;
    }

    internal readonly struct Offsets : IShape
    {
        public static bool Halves => false;
        public static bool HasOffsets => true;
    }

    internal readonly struct Sixteens : IShape
    {
        public static bool Halves => true;
        public static bool HasOffsets => false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> F(Vector256<int> v) => Avx.ConvertToVector256Single(v);

    /// <summary>Four activation bytes at <paramref name="x"/> in every lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Four(byte* x) => Vector256.Create(*(int*)x).AsByte();

    /// <summary>
    /// acc_j += the dots of weight vectors k0..k1 of a block with tile token j's broadcast bytes, for the eight tokens:
    /// eight independent chains, so the dot unit's latency is covered (four chains left it waiting half the time).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dots<TDot>(sbyte* w, byte* x, int k0, int k1,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3,
        ref Vector256<int> i4, ref Vector256<int> i5, ref Vector256<int> i6, ref Vector256<int> i7)
        where TDot : struct, IDot
    {
        for (var k = k0; k < k1; k++)
        {
            var v = Vector256.Load(w + 32 * k);
            var xk = x + 32 * k;
            i0 = TDot.Dot(i0, Four(xk), v);
            i1 = TDot.Dot(i1, Four(xk + 4), v);
            i2 = TDot.Dot(i2, Four(xk + 8), v);
            i3 = TDot.Dot(i3, Four(xk + 12), v);
            i4 = TDot.Dot(i4, Four(xk + 16), v);
            i5 = TDot.Dot(i5, Four(xk + 20), v);
            i6 = TDot.Dot(i6, Four(xk + 24), v);
            i7 = TDot.Dot(i7, Four(xk + 28), v);
        }
    }

    /// <summary>
    /// The eight panel rows against every tile of eight tokens (<see cref="Q8Activations.Tiles"/>; a last short tile
    /// is padded, and only its real tokens are stored). Per block: eight weight vectors, each dotted with the eight
    /// tokens' broadcast bytes into eight integer accumulators that start at the group's −128·Σw; then per token one
    /// convert and one multiply-add by (row scales × the token's block scale), and for Q4_K one more with the offsets.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Sweep<TDot, TShape>(Panel p, int cols, int n, byte* xt, float* dt, float* st, float* y, long ystride, int rows)
        where TDot : struct, IDot
        where TShape : struct, IShape
    {
        const int T = Q8Activations.TileTokens;
        var nb = cols / 32;
        for (var t = 0; t < n; t += T)
        {
            var x = xt + (long)t * cols;
            var d = dt + (long)t * nb;
            var sums = st + (long)t * nb;
            var w = p.W;
            var start = p.Start;
            var scale = p.Scale;
            var offset = p.Offset;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            for (var b = 0; b < nb; b++, w += 32 * IntRows, x += 32 * T, d += T, sums += T)
            {
                for (var h = 0; h < (TShape.Halves ? 2 : 1); h++, start += IntRows, scale += IntRows)
                {
                    var i0 = Vector256.Load(start);
                    Vector256<int> i1 = i0, i2 = i0, i3 = i0, i4 = i0, i5 = i0, i6 = i0, i7 = i0;
                    if (TShape.Halves) Dots<TDot>(w, x, 4 * h, 4 * h + 4, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
                    else Dots<TDot>(w, x, 0, 8, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
                    var c = Vector256.Load(scale);
                    a0 = Fma.MultiplyAdd(F(i0), c * Vector256.Create(d[0]), a0);
                    a1 = Fma.MultiplyAdd(F(i1), c * Vector256.Create(d[1]), a1);
                    a2 = Fma.MultiplyAdd(F(i2), c * Vector256.Create(d[2]), a2);
                    a3 = Fma.MultiplyAdd(F(i3), c * Vector256.Create(d[3]), a3);
                    a4 = Fma.MultiplyAdd(F(i4), c * Vector256.Create(d[4]), a4);
                    a5 = Fma.MultiplyAdd(F(i5), c * Vector256.Create(d[5]), a5);
                    a6 = Fma.MultiplyAdd(F(i6), c * Vector256.Create(d[6]), a6);
                    a7 = Fma.MultiplyAdd(F(i7), c * Vector256.Create(d[7]), a7);
                }
                if (TShape.HasOffsets)
                {
                    var o = Vector256.Load(offset);
                    a0 = Fma.MultiplyAdd(o, Vector256.Create(sums[0]), a0);
                    a1 = Fma.MultiplyAdd(o, Vector256.Create(sums[1]), a1);
                    a2 = Fma.MultiplyAdd(o, Vector256.Create(sums[2]), a2);
                    a3 = Fma.MultiplyAdd(o, Vector256.Create(sums[3]), a3);
                    a4 = Fma.MultiplyAdd(o, Vector256.Create(sums[4]), a4);
                    a5 = Fma.MultiplyAdd(o, Vector256.Create(sums[5]), a5);
                    a6 = Fma.MultiplyAdd(o, Vector256.Create(sums[6]), a6);
                    a7 = Fma.MultiplyAdd(o, Vector256.Create(sums[7]), a7);
                    offset += IntRows;
                }
            }
            var tokens = Math.Min(T, n - t);
            var yt = y + t * ystride;
            StoreRows(yt, rows, a0);
            if (tokens > 1) StoreRows(yt + ystride, rows, a1);
            if (tokens > 2) StoreRows(yt + 2 * ystride, rows, a2);
            if (tokens > 3) StoreRows(yt + 3 * ystride, rows, a3);
            if (tokens > 4) StoreRows(yt + 4 * ystride, rows, a4);
            if (tokens > 5) StoreRows(yt + 5 * ystride, rows, a5);
            if (tokens > 6) StoreRows(yt + 6 * ystride, rows, a6);
            if (tokens > 7) StoreRows(yt + 7 * ystride, rows, a7);
        }
    }

    /// <summary>One token's results for the panel's first <paramref name="rows"/> rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRows(float* y, int rows, Vector256<float> v)
    {
        if (rows == IntRows)
        {
            v.Store(y);
            return;
        }
        for (var i = 0; i < rows; i++) y[i] = v.GetElement(i);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SweepF16(float* wf, int cols, int n, float* x, float* y, long ystride, int rows)
    {
        float* w0 = wf, w1 = wf + cols, w2 = wf + 2 * cols, w3 = wf + 3 * cols;
        var main = cols & ~7;
        var t = 0;
        for (; t + 2 <= n; t += 2)
        {
            var xa = x + (long)t * cols;
            var xb = xa + cols;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
            for (var i = 0; i < main; i += 8)
            {
                var va = Vector256.Load(xa + i);
                var vb = Vector256.Load(xb + i);
                var v0 = Vector256.Load(w0 + i);
                a0 = Fma.MultiplyAdd(v0, va, a0);
                b0 = Fma.MultiplyAdd(v0, vb, b0);
                var v1 = Vector256.Load(w1 + i);
                a1 = Fma.MultiplyAdd(v1, va, a1);
                b1 = Fma.MultiplyAdd(v1, vb, b1);
                var v2 = Vector256.Load(w2 + i);
                a2 = Fma.MultiplyAdd(v2, va, a2);
                b2 = Fma.MultiplyAdd(v2, vb, b2);
                var v3 = Vector256.Load(w3 + i);
                a3 = Fma.MultiplyAdd(v3, va, a3);
                b3 = Fma.MultiplyAdd(v3, vb, b3);
            }
            StoreF(y + t * ystride, rows, Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3), wf, xa, cols, main);
            StoreF(y + (t + 1) * ystride, rows, Vector256.Sum(b0), Vector256.Sum(b1), Vector256.Sum(b2), Vector256.Sum(b3), wf, xb, cols, main);
        }
        for (; t < n; t++)
        {
            var xa = x + (long)t * cols;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (var i = 0; i < main; i += 8)
            {
                var va = Vector256.Load(xa + i);
                a0 = Fma.MultiplyAdd(Vector256.Load(w0 + i), va, a0);
                a1 = Fma.MultiplyAdd(Vector256.Load(w1 + i), va, a1);
                a2 = Fma.MultiplyAdd(Vector256.Load(w2 + i), va, a2);
                a3 = Fma.MultiplyAdd(Vector256.Load(w3 + i), va, a3);
            }
            StoreF(y + t * ystride, rows, Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3), wf, xa, cols, main);
        }
    }

    /// <summary>
    /// One token's four F16 rows: lane sums plus the columns past the last multiple of eight. Inlined: as a call, the
    /// second token's four accumulators had to live through it in memory, and the fully optimizing JIT (the worker
    /// runs without tiering) spilled and reloaded them on every step of the inner loop, 2.6 times slower.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreF(float* y, int rows, float r0, float r1, float r2, float r3, float* wf, float* x, int cols, int main)
    {
        for (var i = main; i < cols; i++)
        {
            r0 += wf[i] * x[i];
            r1 += wf[cols + i] * x[i];
            r2 += wf[2 * cols + i] * x[i];
            r3 += wf[3 * cols + i] * x[i];
        }
        y[0] = r0;
        if (rows > 1) y[1] = r1;
        if (rows > 2) y[2] = r2;
        if (rows > 3) y[3] = r3;
    }

    /// <summary>
    /// Decodes one row into the panel's rows as row <paramref name="i"/> of eight (signed values, see the class summary),
    /// and per group its scale and (Q4_K) offset; <see cref="InterleaveRows"/> then interleaves the eight.
    /// </summary>
    private static void DecodeRow(GgmlType type, byte* row, int cols, Panel p, int i)
    {
        switch (type)
        {
            case GgmlType.Q8_0: DecodeQ8_0(row, cols, p, i); break;
            case GgmlType.Q4_0: DecodeQ4_0(row, cols, p, i); break;
            case GgmlType.Q4_K: DecodeQ4_K(row, cols, p, i); break;
            case GgmlType.Q6_K: DecodeQ6_K(row, cols, p, i); break;
            default: throw new NotSupportedException($"tensor type {type} has no panel decoder");
        }
    }

    /// <summary>Writes 32 values of block <paramref name="b"/> of row <paramref name="i"/> to the panel's rows as decoded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(Panel p, int cols, int b, int i, Vector256<sbyte> v) => v.Store(p.Rows + (long)i * cols + 32 * b);

    /// <summary>
    /// The eight decoded rows into the panel's interleaved form, block by block (<see cref="Transpose8"/>), and each
    /// group's start value −128·Σw from the interleaved vectors, whose lanes are rows: per group (32 values, or 16
    /// with <paramref name="halves"/>) one vector of eight rows' sums, with no horizontal reduction.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void InterleaveRows(Panel p, int cols, bool halves)
    {
        var ones = Vector256.Create((byte)1);
        var onesW = Vector256.Create((short)1);
        for (var b = 0; b < cols / 32; b++)
        {
            var w = p.W + 32 * IntRows * b;
            Transpose8((byte*)p.Rows + 32 * b, cols, (byte*)w, Vector256<byte>.Zero);
            // Pair sums of bytes (at most 2·128 in magnitude), four vectors added as 16-bit, then pairs of those as 32-bit.
            var lo = Avx2.MultiplyAddAdjacent(ones, Vector256.Load(w)) + Avx2.MultiplyAddAdjacent(ones, Vector256.Load(w + 32))
                + Avx2.MultiplyAddAdjacent(ones, Vector256.Load(w + 64)) + Avx2.MultiplyAddAdjacent(ones, Vector256.Load(w + 96));
            var hi = Avx2.MultiplyAddAdjacent(ones, Vector256.Load(w + 128)) + Avx2.MultiplyAddAdjacent(ones, Vector256.Load(w + 160))
                + Avx2.MultiplyAddAdjacent(ones, Vector256.Load(w + 192)) + Avx2.MultiplyAddAdjacent(ones, Vector256.Load(w + 224));
            if (halves)
            {
                (Vector256<int>.Zero - (Avx2.MultiplyAddAdjacent(lo, onesW) << 7)).Store(p.Start + IntRows * 2 * b);
                (Vector256<int>.Zero - (Avx2.MultiplyAddAdjacent(hi, onesW) << 7)).Store(p.Start + IntRows * (2 * b + 1));
            }
            else
                (Vector256<int>.Zero - (Avx2.MultiplyAddAdjacent(lo + hi, onesW) << 7)).Store(p.Start + IntRows * b);
        }
    }

    /// <summary>
    /// Eight 32-byte vectors (rows or tokens, at <paramref name="src"/> + i·<paramref name="stride"/>, each XORed with
    /// <paramref name="flip"/>) to eight vectors k at <paramref name="dst"/> + 32k, vector k holding bytes 4k..4k+3 of
    /// the eight inputs side by side: an 8×8 transpose of 32-bit groups, in three rounds of shuffles.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose8(byte* src, long stride, byte* dst, Vector256<byte> flip)
    {
        var v0 = (Vector256.Load(src) ^ flip).AsInt32();
        var v1 = (Vector256.Load(src + stride) ^ flip).AsInt32();
        var v2 = (Vector256.Load(src + 2 * stride) ^ flip).AsInt32();
        var v3 = (Vector256.Load(src + 3 * stride) ^ flip).AsInt32();
        var v4 = (Vector256.Load(src + 4 * stride) ^ flip).AsInt32();
        var v5 = (Vector256.Load(src + 5 * stride) ^ flip).AsInt32();
        var v6 = (Vector256.Load(src + 6 * stride) ^ flip).AsInt32();
        var v7 = (Vector256.Load(src + 7 * stride) ^ flip).AsInt32();
        // Pairs of inputs: t0 = a0 b0 a1 b1 | a4 b4 a5 b5, t1 = a2 b2 a3 b3 | a6 b6 a7 b7, and so on.
        var t0 = Avx2.UnpackLow(v0, v1).AsInt64();
        var t1 = Avx2.UnpackHigh(v0, v1).AsInt64();
        var t2 = Avx2.UnpackLow(v2, v3).AsInt64();
        var t3 = Avx2.UnpackHigh(v2, v3).AsInt64();
        var t4 = Avx2.UnpackLow(v4, v5).AsInt64();
        var t5 = Avx2.UnpackHigh(v4, v5).AsInt64();
        var t6 = Avx2.UnpackLow(v6, v7).AsInt64();
        var t7 = Avx2.UnpackHigh(v6, v7).AsInt64();
        // Fours: u0 = a0 b0 c0 d0 | a4 b4 c4 d4, u1 = a1 b1 c1 d1 | a5 b5 c5 d5, …
        var u0 = Avx2.UnpackLow(t0, t2);
        var u1 = Avx2.UnpackHigh(t0, t2);
        var u2 = Avx2.UnpackLow(t1, t3);
        var u3 = Avx2.UnpackHigh(t1, t3);
        var u4 = Avx2.UnpackLow(t4, t6);
        var u5 = Avx2.UnpackHigh(t4, t6);
        var u6 = Avx2.UnpackLow(t5, t7);
        var u7 = Avx2.UnpackHigh(t5, t7);
        // Eights: the lower halves of a four and its partner, then the upper halves.
        Avx2.Permute2x128(u0, u4, 0x20).Store((long*)dst);
        Avx2.Permute2x128(u1, u5, 0x20).Store((long*)(dst + 32));
        Avx2.Permute2x128(u2, u6, 0x20).Store((long*)(dst + 64));
        Avx2.Permute2x128(u3, u7, 0x20).Store((long*)(dst + 96));
        Avx2.Permute2x128(u0, u4, 0x31).Store((long*)(dst + 128));
        Avx2.Permute2x128(u1, u5, 0x31).Store((long*)(dst + 160));
        Avx2.Permute2x128(u2, u6, 0x31).Store((long*)(dst + 192));
        Avx2.Permute2x128(u3, u7, 0x31).Store((long*)(dst + 224));
    }

    /// <summary>One group's scale for row i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Group(Panel p, int g, int i, float scale) => p.Scale[IntRows * g + i] = scale;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DecodeQ8_0(byte* row, int cols, Panel p, int i)
    {
        for (var b = 0; b < cols / 32; b++)
        {
            var blk = row + 34 * b;
            Put(p, cols, b, i, Vector256.Load((sbyte*)blk + 2));
            Group(p, b, i, QuantDot.H2F(blk));
        }
    }

    /// <summary>A Q4_0 block's low nibbles are its values 0–15, the high ones 16–31; w = q − 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DecodeQ4_0(byte* row, int cols, Panel p, int i)
    {
        var m4 = Vector128.Create((byte)0x0F);
        var eight = Vector256.Create((sbyte)8);
        for (var b = 0; b < cols / 32; b++)
        {
            var blk = row + 18 * b;
            var raw = Vector128.Load(blk + 2);
            var q = Vector256.Create(raw & m4, (raw.AsUInt16() >> 4).AsByte() & m4).AsSByte() - eight;
            Put(p, cols, b, i, q);
            Group(p, b, i, QuantDot.H2F(blk));
        }
    }

    /// <summary>
    /// Each 32-byte chunk k of a super-block holds sub-blocks 2k (low nibbles) and 2k+1 (high nibbles), value j of
    /// both in byte j; w = q, scale d·sc, offset −dmin·m (ggml's get_scale_min_k4).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DecodeQ4_K(byte* row, int cols, Panel p, int i)
    {
        var m4 = Vector256.Create((byte)0x0F);
        for (var s = 0; s < cols / 256; s++)
        {
            var blk = row + 144 * s;
            float d = QuantDot.H2F(blk), dmin = QuantDot.H2F(blk + 2);
            var sq = blk + 4;
            for (var j = 0; j < 8; j++)
            {
                int sc, mn;
                if (j < 4)
                {
                    sc = sq[j] & 63;
                    mn = sq[j + 4] & 63;
                }
                else
                {
                    sc = (sq[j + 4] & 0xF) | ((sq[j - 4] >> 6) << 4);
                    mn = (sq[j + 4] >> 4) | ((sq[j] >> 6) << 4);
                }
                var bytes = Vector256.Load(blk + 16 + 32 * (j / 2));
                var q = (j % 2 == 0 ? bytes & m4 : (bytes.AsUInt16() >> 4).AsByte() & m4).AsSByte();
                var g = 8 * s + j;
                Put(p, cols, g, i, q);
                Group(p, g, i, d * sc);
                p.Offset[IntRows * g + i] = -dmin * mn;
            }
        }
    }

    /// <summary>Q6_K: w = q − 32 with a scale per 16 values, so two groups per block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DecodeQ6_K(byte* row, int cols, Panel p, int i)
    {
        var m4 = Vector256.Create((byte)0x0F);
        var m30 = Vector256.Create((byte)0x30);
        var bias = Vector256.Create((sbyte)32);
        for (var s = 0; s < cols / 256; s++)
        {
            var blk = row + 210 * s;
            var d = QuantDot.H2F(blk + 208);
            var scales = (sbyte*)(blk + 192);
            for (var h = 0; h < 2; h++)
            {
                var ql = blk + 64 * h;
                var qh = Vector256.Load(blk + 128 + 32 * h).AsUInt16();
                var l0 = Vector256.Load(ql);
                var l1 = Vector256.Load(ql + 32);
                var b0 = 8 * s + 4 * h;
                Put6(p, cols, b0, i, ((l0 & m4) | ((qh << 4).AsByte() & m30)).AsSByte() - bias, d, scales + 8 * h);
                Put6(p, cols, b0 + 1, i, ((l1 & m4) | ((qh << 2).AsByte() & m30)).AsSByte() - bias, d, scales + 8 * h + 2);
                Put6(p, cols, b0 + 2, i, (((l0.AsUInt16() >> 4).AsByte() & m4) | (qh.AsByte() & m30)).AsSByte() - bias, d, scales + 8 * h + 4);
                Put6(p, cols, b0 + 3, i, (((l1.AsUInt16() >> 4).AsByte() & m4) | ((qh >> 2).AsByte() & m30)).AsSByte() - bias, d, scales + 8 * h + 6);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put6(Panel p, int cols, int b, int i, Vector256<sbyte> q, float d, sbyte* sc)
    {
        Put(p, cols, b, i, q);
        Group(p, 2 * b, i, d * sc[0]);
        Group(p, 2 * b + 1, i, d * sc[1]);
    }
}
