using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rbee.Worker.Gguf;

namespace Rbee.Worker.Kernels;

/// <summary>
/// Prefill GEMM (<see cref="MatMul"/> with several tokens, not batch-invariant): a panel of <see cref="PanelRows"/>
/// weight rows is decoded once per call into a small per-thread scratch (a few KiB, in L1/L2; the mapped weights
/// are never copied as a whole), then register tiles of 4 rows × 2 tokens sweep it for every token of the batch.
/// Each weight block is thus unpacked once for the whole batch instead of once per four tokens, and each activation
/// load and scale feeds four rows.
/// <para>
/// Quantized types decode to one canonical form: unsigned 8-bit values u (Q8_0: q+128, Q4_0/Q4_K: the nibble,
/// Q6_K: q+32 as stored), a weight scale per 16 values, and an offset per 16 values, so that w = scale·u + offset.
/// Then Σ w·x = Σ₃₂ (scale·dx)·Σ u·q + Σ₁₆ offset·(dx·Σq): one u8×s8 integer dot per 32 values and token (AVX-VNNI
/// <c>vpdpbusd</c>, or AVX2 <c>vpmaddubsw</c>+<c>vpmaddwd</c> where the values fit its 16-bit pairs), and the
/// offsets as a short float dot with the activations' per-16 sums (<see cref="Q8Activations.Sum16"/>). F16 panels
/// are widened to float and swept with 4×2 FMA tiles. The reduction order differs from the one-token kernels
/// (results agree within rounding), which is why only the prefill path uses this.
/// </para>
/// </summary>
internal static unsafe class PanelGemm
{
    public const int PanelRows = 4;

    /// <summary>
    /// Types with a panel decoder, for a row of <paramref name="cols"/> values. Q8_0's u = q+128 overflows AVX2's
    /// 16-bit pair sums, so it needs VNNI; Q8_0/Q4_0 rows must be whole block pairs (<see cref="Paired"/>).
    /// </summary>
    public static bool Handles(GgmlType type, bool vnni, int cols) => type switch
    {
        GgmlType.F16 or GgmlType.Q4_K or GgmlType.Q6_K => true,
        GgmlType.Q4_0 => cols % 64 == 0,
        GgmlType.Q8_0 => vnni && cols % 64 == 0,
        _ => false,
    };

    /// <summary>
    /// Types whose scales are per 32 values, decoded in block pairs: two blocks' halves share one 256-bit dot (the
    /// <see cref="Q8Activations.Pairs"/> order), so one convert, multiply and add serve 64 values instead of 32.
    /// Q6_K has a scale per 16 values and keeps one block per dot.
    /// </summary>
    public static bool Paired(GgmlType type) => type is GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_K;

    /// <summary>AVX-VNNI on this CPU: the production choice of integer dot.</summary>
    public static bool Vnni => AvxVnni.IsSupported;

    /// <summary>One thread's panel: values, per-lane scales (8 floats per 32 values), offsets per 16, floats for F16.</summary>
    private sealed class Panel
    {
        public byte* U;
        public float* Scale;
        public float* Offset;
        public float* F;
        private int _cols;

        public void Ensure(int cols)
        {
            if (cols <= _cols) return;
            Free();
            _cols = Math.Max(cols, 1024);
            U = (byte*)NativeMemory.AlignedAlloc((nuint)(PanelRows * _cols), 64);
            Scale = (float*)NativeMemory.AlignedAlloc((nuint)(PanelRows * _cols / 4 * sizeof(float)), 64);
            Offset = (float*)NativeMemory.AlignedAlloc((nuint)(PanelRows * _cols / 16 * sizeof(float)), 64);
            F = (float*)NativeMemory.AlignedAlloc((nuint)(PanelRows * _cols * sizeof(float)), 64);
        }

        private void Free()
        {
            if (U != null) NativeMemory.AlignedFree(U);
            if (Scale != null) NativeMemory.AlignedFree(Scale);
            if (Offset != null) NativeMemory.AlignedFree(Offset);
            if (F != null) NativeMemory.AlignedFree(F);
            U = null;
            Scale = null;
            Offset = null;
            F = null;
        }

        ~Panel() => Free();
    }

    [ThreadStatic] private static Panel? _panel;

    /// <summary>
    /// Y[t, r] for rows r0..r1 and every token t of an integer-kernel type: <paramref name="xq"/>, <paramref name="xd"/>,
    /// <paramref name="xs"/> are <see cref="Q8Activations"/>' values, per-32 scales and per-16 sums; <paramref name="xp"/>
    /// its <see cref="Q8Activations.Pairs"/>, filled, for a <see cref="Paired"/> type.
    /// </summary>
    public static void Int8(in WeightMatrix w, int r0, int r1, int n, sbyte* xq, sbyte* xp, float* xd, float* xs, float* y, bool vnni)
    {
        var paired = Paired(w.Type);
        var cols = w.Cols;
        var p = _panel ??= new Panel();
        p.Ensure(cols);
        for (var r = r0; r < r1; r += PanelRows)
        {
            var rows = Math.Min(PanelRows, r1 - r);
            // A short panel repeats its last row, so the tile always has four; those results are not stored.
            for (var i = 0; i < PanelRows; i++)
                DecodeRow(w.Type, w.Row(r + Math.Min(i, rows - 1)), cols, p.U + (paired ? 64 : 32) * i, p.Scale + 8 * i, p.Offset + i * (cols / 16));
            Prefetch(w, r + PanelRows);
            if (w.Type == GgmlType.Q4_K && vnni) SweepPairsK<VnniDot>(p, cols, n, xp, xd, xs, y + r, w.Rows, rows);
            else if (w.Type == GgmlType.Q4_K) SweepPairsK<Avx2Dot>(p, cols, n, xp, xd, xs, y + r, w.Rows, rows);
            else if (paired && vnni) SweepPairs<VnniDot>(p, cols, n, xp, xd, xs, y + r, w.Rows, rows);
            else if (paired) SweepPairs<Avx2Dot>(p, cols, n, xp, xd, xs, y + r, w.Rows, rows);
            else if (vnni) SweepK<VnniDot>(p, cols, n, xq, xd, xs, y + r, w.Rows, rows);
            else SweepK<Avx2Dot>(p, cols, n, xq, xd, xs, y + r, w.Rows, rows);
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
            Prefetch(w, r + PanelRows);
            SweepF16(p.F, cols, n, x, y + r, w.Rows, rows);
        }
    }

    /// <summary>
    /// Asks for the next panel's rows (into L2) before sweeping this one: the sweep is long enough to hide their
    /// arrival, whereas decoding straight from memory stalled on every panel (weights stream from RAM in prefill).
    /// </summary>
    private static void Prefetch(in WeightMatrix w, int r)
    {
        if (!Sse.IsSupported) return;
        var rowBytes = GgmlTypeInfo.RowBytes(w.Type, w.Cols);
        for (var i = r; i < Math.Min(w.Rows, r + PanelRows); i++)
        {
            var row = w.Row(i);
            for (long o = 0; o < rowBytes; o += 64) Sse.Prefetch1(row + o);
        }
    }

    /// <summary>The integer dot of 32 unsigned weight bytes with 32 signed activation bytes, eight lanes of four.</summary>
    internal interface IDot
    {
        static abstract Vector256<int> Dot(Vector256<byte> u, Vector256<sbyte> s);

        /// <summary>Dot(u0, s0) + Dot(u1, s1).</summary>
        static abstract Vector256<int> Dot2(Vector256<byte> u0, Vector256<sbyte> s0, Vector256<byte> u1, Vector256<sbyte> s1);
    }

    internal readonly struct VnniDot : IDot
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot(Vector256<byte> u, Vector256<sbyte> s) => AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u, s);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot2(Vector256<byte> u0, Vector256<sbyte> s0, Vector256<byte> u1, Vector256<sbyte> s1) =>
            AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u0, s0), u1, s1);
    }

    /// <summary>
    /// AVX2 without VNNI: exact while u·s pairs stay within 16 bits (u ≤ 128, as for 4- and 6-bit values); Dot2 adds
    /// the two 16-bit pair sums before widening, exact for u ≤ 64 (the paired types are 4-bit here).
    /// </summary>
    internal readonly struct Avx2Dot : IDot
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot(Vector256<byte> u, Vector256<sbyte> s) =>
            Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256.Create((short)1));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot2(Vector256<byte> u0, Vector256<sbyte> s0, Vector256<byte> u1, Vector256<sbyte> s1) =>
            Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u0, s0) + Avx2.MultiplyAddAdjacent(u1, s1), Vector256.Create((short)1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> F(Vector256<int> v) => Avx.ConvertToVector256Single(v);

    /// <summary>
    /// One token at a time against the panel's four rows, one block per dot (Q6_K: a scale per 16 values): four
    /// accumulators, so the whole tile lives in registers (a 4×2 tile's eight accumulators plus operands made the
    /// JIT spill every iteration, which cost more than the activation loads it saved). The panel is interleaved by
    /// block, so one pointer walks it. The activations are Q8_K (one scale per 256 values), so a super-block's eight
    /// blocks are summed with the weight scales alone and the activation scale multiplies the sum once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SweepK<TDot>(Panel p, int cols, int n, sbyte* xq, float* xd, float* xs, float* y, long ystride, int rows)
        where TDot : struct, IDot
    {
        var nb = cols / 32;
        var n16 = cols / 16;
        for (var t = 0; t < n; t++)
        {
            var x = xq + (long)t * cols;
            var d = xd + (long)t * nb;
            var u = p.U;
            var c = p.Scale;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (var b = 0; b < nb; b += 8)
            {
                Vector256<float> k0 = default, k1 = default, k2 = default, k3 = default;
                for (var q = 0; q < 8; q++, x += 32, u += BlockBytes, c += BlockScales)
                {
                    var v = Vector256.Load(x);
                    k0 = Fma.MultiplyAdd(F(TDot.Dot(Vector256.Load(u), v)), Vector256.Load(c), k0);
                    k1 = Fma.MultiplyAdd(F(TDot.Dot(Vector256.Load(u + 32), v)), Vector256.Load(c + 8), k1);
                    k2 = Fma.MultiplyAdd(F(TDot.Dot(Vector256.Load(u + 64), v)), Vector256.Load(c + 16), k2);
                    k3 = Fma.MultiplyAdd(F(TDot.Dot(Vector256.Load(u + 96), v)), Vector256.Load(c + 24), k3);
                }
                var dx = Vector256.Create(d[b]);
                a0 = Fma.MultiplyAdd(k0, dx, a0);
                a1 = Fma.MultiplyAdd(k1, dx, a1);
                a2 = Fma.MultiplyAdd(k2, dx, a2);
                a3 = Fma.MultiplyAdd(k3, dx, a3);
            }
            Store(y + t * ystride, rows, Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3), p.Offset, xs + (long)t * n16, n16);
        }
    }

    /// <summary>
    /// <see cref="SweepK{TDot}"/> over a paired panel: per block pair and row, the low halves of both blocks and then
    /// the high halves go through one chained dot, whose lanes 0–3 are block b and 4–7 block b+1, so the per-lane
    /// scales [d_b·dx_b ×4, d_b+1·dx_b+1 ×4] finish both blocks in one multiply-add.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SweepPairs<TDot>(Panel p, int cols, int n, sbyte* xp, float* xd, float* xs, float* y, long ystride, int rows)
        where TDot : struct, IDot
    {
        var nb = cols / 32;
        var n16 = cols / 16;
        for (var t = 0; t < n; t++)
        {
            var x = xp + (long)t * cols;
            var d = xd + (long)t * nb;
            var u = p.U;
            var c = p.Scale;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (var b = 0; b < nb; b += 2, x += 64, u += 2 * BlockBytes, c += BlockScales)
            {
                var lo = Vector256.Load(x);
                var hi = Vector256.Load(x + 32);
                var dx = Vector256.Create(Vector128.Create(d[b]), Vector128.Create(d[b + 1]));
                a0 = Fma.MultiplyAdd(F(TDot.Dot2(Vector256.Load(u), lo, Vector256.Load(u + 32), hi)), Vector256.Load(c) * dx, a0);
                a1 = Fma.MultiplyAdd(F(TDot.Dot2(Vector256.Load(u + 64), lo, Vector256.Load(u + 96), hi)), Vector256.Load(c + 8) * dx, a1);
                a2 = Fma.MultiplyAdd(F(TDot.Dot2(Vector256.Load(u + 128), lo, Vector256.Load(u + 160), hi)), Vector256.Load(c + 16) * dx, a2);
                a3 = Fma.MultiplyAdd(F(TDot.Dot2(Vector256.Load(u + 192), lo, Vector256.Load(u + 224), hi)), Vector256.Load(c + 24) * dx, a3);
            }
            Store(y + t * ystride, rows, Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3), p.Offset, xs + (long)t * n16, n16);
        }
    }

    /// <summary>
    /// <see cref="SweepPairs{TDot}"/> for K-quant weights, whose activations (Q8_K) have one scale per 256 values:
    /// a super-block's four pairs are summed with the weight scales alone, and the activation scale multiplies the
    /// sum once, which saves a multiply per pair and row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SweepPairsK<TDot>(Panel p, int cols, int n, sbyte* xp, float* xd, float* xs, float* y, long ystride, int rows)
        where TDot : struct, IDot
    {
        var nb = cols / 32;
        var n16 = cols / 16;
        for (var t = 0; t < n; t++)
        {
            var x = xp + (long)t * cols;
            var d = xd + (long)t * nb;
            var u = p.U;
            var c = p.Scale;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (var b = 0; b < nb; b += 8)
            {
                Vector256<float> k0 = default, k1 = default, k2 = default, k3 = default;
                for (var q = 0; q < 4; q++, x += 64, u += 2 * BlockBytes, c += BlockScales)
                {
                    var lo = Vector256.Load(x);
                    var hi = Vector256.Load(x + 32);
                    k0 = Fma.MultiplyAdd(F(TDot.Dot2(Vector256.Load(u), lo, Vector256.Load(u + 32), hi)), Vector256.Load(c), k0);
                    k1 = Fma.MultiplyAdd(F(TDot.Dot2(Vector256.Load(u + 64), lo, Vector256.Load(u + 96), hi)), Vector256.Load(c + 8), k1);
                    k2 = Fma.MultiplyAdd(F(TDot.Dot2(Vector256.Load(u + 128), lo, Vector256.Load(u + 160), hi)), Vector256.Load(c + 16), k2);
                    k3 = Fma.MultiplyAdd(F(TDot.Dot2(Vector256.Load(u + 192), lo, Vector256.Load(u + 224), hi)), Vector256.Load(c + 24), k3);
                }
                var dx = Vector256.Create(d[b]);
                a0 = Fma.MultiplyAdd(k0, dx, a0);
                a1 = Fma.MultiplyAdd(k1, dx, a1);
                a2 = Fma.MultiplyAdd(k2, dx, a2);
                a3 = Fma.MultiplyAdd(k3, dx, a3);
            }
            Store(y + t * ystride, rows, Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3), p.Offset, xs + (long)t * n16, n16);
        }
    }

    /// <summary>
    /// Finishes one token's four rows: lane sums plus the offsets' dot with the per-16 activation sums. Takes the sums,
    /// not the accumulators: vectors passed to a call made the JIT keep the accumulators on the stack in the loop.
    /// </summary>
    private static void Store(float* y, int rows, float s0, float s1, float s2, float s3, float* offset, float* xs, int n16)
    {
        y[0] = s0 + FastConvert.Dot(offset, xs, n16);
        if (rows > 1) y[1] = s1 + FastConvert.Dot(offset + n16, xs, n16);
        if (rows > 2) y[2] = s2 + FastConvert.Dot(offset + 2 * n16, xs, n16);
        if (rows > 3) y[3] = s3 + FastConvert.Dot(offset + 3 * n16, xs, n16);
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

    /// <summary>One token's four F16 rows: lane sums plus the columns past the last multiple of eight.</summary>
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

    /// <summary>Panel bytes per 32-value block: the four rows' 32 values side by side.</summary>
    private const int BlockBytes = 32 * PanelRows;

    /// <summary>Panel scale floats per 32-value block: the four rows' eight lanes side by side.</summary>
    private const int BlockScales = 8 * PanelRows;

    /// <summary>
    /// Decodes one row into the panel's canonical form, interleaved with the other rows by block (row i's block b at
    /// <c>u + BlockBytes·b</c> and <c>scale + BlockScales·b</c>, u and scale already offset to row i): 32 values u,
    /// 8 scales (lanes 0–3 for values 0–15, lanes 4–7 for 16–31, matching <c>vpdpbusd</c>'s lanes), and for the row
    /// alone one offset per 16 values.
    /// </summary>
    private static void DecodeRow(GgmlType type, byte* row, int cols, byte* u, float* scale, float* offset)
    {
        switch (type)
        {
            case GgmlType.Q8_0: DecodeQ8_0(row, cols, u, scale, offset); break;
            case GgmlType.Q4_0: DecodeQ4_0(row, cols, u, scale, offset); break;
            case GgmlType.Q4_K: DecodeQ4_K(row, cols, u, scale, offset); break;
            case GgmlType.Q6_K: DecodeQ6_K(row, cols, u, scale, offset); break;
            default: throw new NotSupportedException($"tensor type {type} has no panel decoder");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Lanes(float* scale, float lo, float hi) =>
        Vector256.Create(Vector128.Create(lo), Vector128.Create(hi)).Store(scale);

    /// <summary>Paired (see <see cref="Paired"/>): pair b/2 holds [b 0–15, b+1 0–15] then [b 16–31, b+1 16–31].</summary>
    private static void DecodeQ8_0(byte* row, int cols, byte* u, float* scale, float* offset)
    {
        var flip = Vector256.Create((byte)0x80);
        for (var b = 0; b < cols / 32; b += 2, u += 2 * BlockBytes, scale += BlockScales)
        {
            var p0 = row + 34 * b;
            var p1 = p0 + 34;
            float d0 = QuantDot.H2F(p0), d1 = QuantDot.H2F(p1);
            (Vector256.Create(Vector128.Load(p0 + 2), Vector128.Load(p1 + 2)) ^ flip).Store(u);
            (Vector256.Create(Vector128.Load(p0 + 18), Vector128.Load(p1 + 18)) ^ flip).Store(u + 32);
            Lanes(scale, d0, d1);
            offset[2 * b] = offset[2 * b + 1] = -128 * d0;
            offset[2 * b + 2] = offset[2 * b + 3] = -128 * d1;
        }
    }

    /// <summary>Paired, as <see cref="DecodeQ8_0"/>: a Q4_0 block's low nibbles are its values 0–15, high ones 16–31.</summary>
    private static void DecodeQ4_0(byte* row, int cols, byte* u, float* scale, float* offset)
    {
        var m4 = Vector128.Create((byte)0x0F);
        for (var b = 0; b < cols / 32; b += 2, u += 2 * BlockBytes, scale += BlockScales)
        {
            var p0 = row + 18 * b;
            var p1 = p0 + 18;
            float d0 = QuantDot.H2F(p0), d1 = QuantDot.H2F(p1);
            var raw0 = Vector128.Load(p0 + 2);
            var raw1 = Vector128.Load(p1 + 2);
            Vector256.Create(raw0 & m4, raw1 & m4).Store(u);
            Vector256.Create((raw0.AsUInt16() >> 4).AsByte() & m4, (raw1.AsUInt16() >> 4).AsByte() & m4).Store(u + 32);
            Lanes(scale, d0, d1);
            offset[2 * b] = offset[2 * b + 1] = -8 * d0;
            offset[2 * b + 2] = offset[2 * b + 3] = -8 * d1;
        }
    }

    /// <summary>
    /// Paired: each 32-byte chunk k of a super-block holds blocks 2k (low nibbles) and 2k+1 (high nibbles), value i
    /// of both in byte i, so the pair is [lo(bytes 0–15), hi(bytes 0–15)] then [lo(16–31), hi(16–31)].
    /// </summary>
    private static void DecodeQ4_K(byte* row, int cols, byte* u, float* scale, float* offset)
    {
        var m4 = Vector128.Create((byte)0x0F);
        Span<int> sc = stackalloc int[8];
        for (var s = 0; s < cols / 256; s++)
        {
            var blk = row + 144 * s;
            float d = QuantDot.H2F(blk), dmin = QuantDot.H2F(blk + 2);
            var sq = blk + 4;
            var q = blk + 16;
            for (var j = 0; j < 8; j++)
            {
                // The 6-bit scale and min of 32-block j (ggml's get_scale_min_k4).
                int mn;
                if (j < 4)
                {
                    sc[j] = sq[j] & 63;
                    mn = sq[j + 4] & 63;
                }
                else
                {
                    sc[j] = (sq[j + 4] & 0xF) | ((sq[j - 4] >> 6) << 4);
                    mn = (sq[j + 4] >> 4) | ((sq[j] >> 6) << 4);
                }
                offset[16 * s + 2 * j] = offset[16 * s + 2 * j + 1] = -dmin * mn;
            }
            for (var k = 0; k < 4; k++, u += 2 * BlockBytes, scale += BlockScales)
            {
                var a = Vector128.Load(q + 32 * k);
                var b = Vector128.Load(q + 32 * k + 16);
                Vector256.Create(a & m4, (a.AsUInt16() >> 4).AsByte() & m4).Store(u);
                Vector256.Create(b & m4, (b.AsUInt16() >> 4).AsByte() & m4).Store(u + 32);
                Lanes(scale, d * sc[2 * k], d * sc[2 * k + 1]);
            }
        }
    }

    private static void DecodeQ6_K(byte* row, int cols, byte* u, float* scale, float* offset)
    {
        var m4 = Vector256.Create((byte)0x0F);
        var m30 = Vector256.Create((byte)0x30);
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
                var at = 256 * s + 128 * h;
                ((l0 & m4) | ((qh << 4).AsByte() & m30)).Store(u + BlockBytes * (at / 32));
                ((l1 & m4) | ((qh << 2).AsByte() & m30)).Store(u + BlockBytes * (at / 32 + 1));
                (((l0.AsUInt16() >> 4).AsByte() & m4) | (qh.AsByte() & m30)).Store(u + BlockBytes * (at / 32 + 2));
                (((l1.AsUInt16() >> 4).AsByte() & m4) | ((qh >> 2).AsByte() & m30)).Store(u + BlockBytes * (at / 32 + 3));
                var sc = scales + 8 * h;
                for (var g = 0; g < 8; g++) offset[at / 16 + g] = -32 * d * sc[g];
                for (var k = 0; k < 4; k++) Lanes(scale + BlockScales * (at / 32 + k), d * sc[2 * k], d * sc[2 * k + 1]);
            }
        }
    }
}
