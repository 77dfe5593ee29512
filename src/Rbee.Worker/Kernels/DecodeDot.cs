using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rbee.Worker.Kernels;

/// <summary>
/// Decode (one token) dot products tuned so a row streams at close to memory speed: the per-block scalar work of
/// <see cref="QuantDot"/> (a half→float per block, a scale multiply, a broadcast, a scalar offset correction) is
/// done eight blocks at a time in vectors, and the nibbles are unpacked with one broadcast load and one variable
/// shift (32-bit lanes: the bits a lane drags in from its neighbour byte are masked off). Same arithmetic as <see cref="QuantDot"/> (the tests hold both to the scalar reference). Needs AVX-VNNI
/// (<see cref="IsSupported"/>); elsewhere <see cref="MatMul"/> keeps the <see cref="QuantDot"/> kernels.
/// </summary>
internal static unsafe class DecodeDot
{
    public static bool IsSupported => AvxVnni.IsSupported && Avx2.IsSupported && Fma.IsSupported;

    /// <summary>
    /// Eight fp16 weights (sign-extended to 32 bits) → floats in three operations: shifted so the 15 magnitude bits sit
    /// in a float's place with the sign kept in bit 31, then rebased by 2^112 (exact for every finite half). For
    /// weights only, not for scales: a subnormal half makes the multiply take a microcode assist (see
    /// <see cref="FastConvert.HalfBits(uint)"/>), which ~0.2 % of trained F16 weights are, while the assist-free form's
    /// extra operations on every weight cost far more (F16 bench model, one sequence: 13 → 22 ms per step).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Halves(Vector256<int> signExtended) =>
        ((signExtended << 13) & Vector256.Create(unchecked((int)0x8FFFE000))).AsSingle() * Vector256.Create(5.192297e33f);

    /// <summary>The two fp16 fields at <paramref name="p"/> (a K-quant's d and dmin) as floats, in vector registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Halves2(byte* p) =>
        FastConvert.HalfBits(Sse41.ConvertToVector128Int32(Vector128.CreateScalar(*(int*)p).AsInt16()));

    /// <summary>
    /// The fp16 scales of eight consecutive blocks <paramref name="stride"/> bytes apart, converted without assists
    /// (<see cref="FastConvert.HalfBits(Vector256{int})"/>). They are packed four to a 64-bit integer on the scalar
    /// side, which idles in these kernels, instead of eight vector inserts.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Scales8(byte* p, int stride)
    {
        var lo = *(ushort*)p | ((ulong)*(ushort*)(p + stride) << 16)
            | ((ulong)*(ushort*)(p + 2 * stride) << 32) | ((ulong)*(ushort*)(p + 3 * stride) << 48);
        var hi = *(ushort*)(p + 4 * stride) | ((ulong)*(ushort*)(p + 5 * stride) << 16)
            | ((ulong)*(ushort*)(p + 6 * stride) << 32) | ((ulong)*(ushort*)(p + 7 * stride) << 48);
        return FastConvert.HalfBits(Avx2.ConvertToVector256Int32(Vector128.Create(lo, hi).AsInt16()));
    }

    /// <summary>
    /// <see cref="Vector256.Sum{T}(Vector256{T})"/> of four vectors at once, bit for bit: each is summed
    /// ((e0 + e1) + (e2 + e3)) + ((e4 + e5) + (e6 + e7)) there, and here two rounds of horizontal adds leave vector k's
    /// (e0 + e1) + (e2 + e3) in lane k of the low half and its (e4 + e5) + (e6 + e7) in lane k of the high one, which
    /// one add joins: three horizontal adds and an add for four sums, where each Sum takes its own shuffles and adds.
    /// The batched kernels end their rows with it; the one-sequence kernels keep Vector256.Sum.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> Sums4(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3)
    {
        var h = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
        return h.GetLower() + h.GetUpper();
    }

    /// <summary>Four sequences' results of one row, <paramref name="ystride"/> apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Store4(Vector128<float> r, float* y, long ystride)
    {
        y[0] = r.ToScalar();
        y[ystride] = r.GetElement(1);
        y[2 * ystride] = r.GetElement(2);
        y[3 * ystride] = r.GetElement(3);
    }

    /// <summary><see cref="Store4"/> for <typeparamref name="TN"/>'s count of sequences: the first two lanes always,
    /// the other two when it is four.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<TN>(Vector128<float> r, float* y, long ystride) where TN : struct, ISequences
    {
        if (TN.Count == 4)
        {
            Store4(r, y, ystride);
            return;
        }
        y[0] = r.ToScalar();
        y[ystride] = r.GetElement(1);
    }

    /// <summary>Per-16 activation sums of eight 32-blocks (16 floats) added in pairs, in block order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> BlockSums8(float* s16)
    {
        var pairs = Avx.HorizontalAdd(Vector256.Load(s16), Vector256.Load(s16 + 8));
        return Avx2.Permute4x64(pairs.AsDouble(), 0b11_01_10_00).AsSingle();
    }

    /// <summary>32 nibbles of a Q4_0 block in value order: low nibbles (values 0..15), then high (16..31).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles(byte* qs, Vector256<uint> shifts, Vector256<byte> m4) =>
        Avx2.ShiftRightLogicalVariable(Avx2.BroadcastVector128ToVector256(qs).AsUInt32(), shifts).AsByte() & m4;

    /// <summary>
    /// A group of eight Q4_0 blocks' nibbles, unpacked for <see cref="Group4_0"/>: pair i holds blocks i and i+4 (one in
    /// each 128-bit half), low nibbles in <c>l</c>, high in <c>h</c>, matching <see cref="Q8Activations.Pairs"/>.
    /// </summary>
    private struct Nibbles8
    {
        public Vector256<byte> L0, H0, L1, H1, L2, H2, L3, H3;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Nibbles8(byte* p, Vector256<byte> m4)
        {
            var v0 = Vector256.Create(Vector128.Load(p + 2), Vector128.Load(p + 2 + 4 * 18));
            var v1 = Vector256.Create(Vector128.Load(p + 2 + 18), Vector128.Load(p + 2 + 5 * 18));
            var v2 = Vector256.Create(Vector128.Load(p + 2 + 2 * 18), Vector128.Load(p + 2 + 6 * 18));
            var v3 = Vector256.Create(Vector128.Load(p + 2 + 3 * 18), Vector128.Load(p + 2 + 7 * 18));
            L0 = v0 & m4;
            H0 = (v0.AsUInt16() >> 4).AsByte() & m4;
            L1 = v1 & m4;
            H1 = (v1.AsUInt16() >> 4).AsByte() & m4;
            L2 = v2 & m4;
            H2 = (v2.AsUInt16() >> 4).AsByte() & m4;
            L3 = v3 & m4;
            H3 = (v3.AsUInt16() >> 4).AsByte() & m4;
        }
    }

    /// <summary>
    /// One sequence's share of a group of eight Q4_0 blocks: each pair's two chained dots leave four lanes per block,
    /// three horizontal adds (exact integer sums) leave each block's whole Σ nibble·q in one lane in block order, and
    /// minus <paramref name="offsets"/> (8·Σq per block) that is Σ (nibble−8)·q, exactly. One conversion and one
    /// multiply-add by the eight blocks' dw·dx finish the group. Inlined into every caller, so the accumulator stays in
    /// a register; <see cref="Q4_0"/> and <see cref="Q4_0x4"/> run exactly these float operations, so a sequence gets
    /// the same floats alone or batched.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Group4_0(in Nibbles8 n, Vector256<float> dw, sbyte* x, float* xd, int* offsets, ref Vector256<float> acc)
    {
        var d0 = AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, n.L0, Vector256.Load(x)), n.H0, Vector256.Load(x + 32));
        var d1 = AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, n.L1, Vector256.Load(x + 64)), n.H1, Vector256.Load(x + 96));
        var d2 = AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, n.L2, Vector256.Load(x + 128)), n.H2, Vector256.Load(x + 160));
        var d3 = AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, n.L3, Vector256.Load(x + 192)), n.H3, Vector256.Load(x + 224));
        var blocks = Avx2.HorizontalAdd(Avx2.HorizontalAdd(d0, d1), Avx2.HorizontalAdd(d2, d3));
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(blocks - Vector256.Load(offsets)), dw * Vector256.Load(xd), acc);
    }

    /// <summary>
    /// Q4_0 row · Q8_0 activations: Σ_b dw·dx·Σ (q−8)·x, each block's integer sum exact. <paramref name="xpairs"/> is the
    /// token's <see cref="Q8Activations.Pairs"/>, read for whole groups of eight blocks; the rest reads
    /// <paramref name="xq"/>. <paramref name="offsets"/> is the token's <see cref="Q8Activations.Offsets"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q4_0(byte* row, int nb, sbyte* xq, sbyte* xpairs, float* xd, int* offsets)
    {
        var m4 = Vector256.Create((byte)0x0F);
        Vector256<float> acc = default;
        var b = 0;
        for (; b + 8 <= nb; b += 8)
        {
            var p = row + 18 * b;
            Group4_0(new Nibbles8(p, m4), Scales8(p, 18), xpairs + 32 * b, xd + b, offsets + b, ref acc);
        }
        return Finish4_0(row, b, nb, xq, xd, offsets, acc);
    }

    /// <summary>
    /// u8 weights × s8 activations summed in pairs (vpmaddubsw; |q|·127·2 stays within 16 bits for 6-bit q), then
    /// times 16-bit block scales and summed in pairs again into the int32 accumulator (vpdpwssd): the scale multiply
    /// costs no separate instruction and the whole super-block stays in one integer sum.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> ScaledDot(Vector256<int> acc, Vector256<byte> q, sbyte* x, Vector256<short> scale) =>
        AvxVnni.MultiplyWideningAndAdd(acc, Avx2.MultiplyAddAdjacent(q, Vector256.Load(x)), scale);

    /// <summary>Eight scales (bytes, zero- or sign-extended by the caller) as shorts in both 128-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Both(Vector128<short> s8) => Vector256.Create(s8, s8).AsByte();

    /// <summary>Short <paramref name="lo"/> of each lane's eight repeated in the low lane, <paramref name="hi"/> in the high.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Pick(Vector256<byte> both, byte lo, byte hi)
    {
        byte a = (byte)(2 * lo), b = (byte)(2 * lo + 1), c = (byte)(2 * hi), e = (byte)(2 * hi + 1);
        return Avx2.Shuffle(both, Vector256.Create(a, b, a, b, a, b, a, b, a, b, a, b, a, b, a, b,
            c, e, c, e, c, e, c, e, c, e, c, e, c, e, c, e)).AsInt16();
    }

    /// <summary>
    /// <see cref="QuantDot.UnpackK4"/> in one vector: the eight 6-bit scales in bytes 0..7, the eight mins in bytes
    /// 8..15. Reads 16 bytes at <paramref name="q"/> (the 12 scale bytes and the first 4 of the quants after them).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> UnpackK4(byte* q)
    {
        var v = Vector128.Load((uint*)q); // u0, u1, u2, (quants)
        var low = Avx2.ShiftRightLogicalVariable(Vector128.Shuffle(v, Vector128.Create(0u, 2, 1, 2)), Vector128.Create(0u, 0, 0, 4))
            & Vector128.Create(0x3f3f3f3fu, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f);
        var top = ((Vector128.Shuffle(v, Vector128.Create(0u, 0, 1, 1)) >> 6) & Vector128.Create(0u, 0x03030303, 0, 0x03030303)) << 4;
        return (low | top).AsByte(); // [u0&k1, sHi, u1&k1, mHi] as in UnpackK4
    }

    /// <summary>Σ_j min_j·(per-32 activation sums), the K-quants' min term before the dmin scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MinTerm(Vector128<byte> scalesMins, float* xss, float dmin, Vector256<float> corr)
    {
        var m = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(scalesMins, 8)));
        return Fma.MultiplyAdd(m * Vector256.Create(dmin), BlockSums8(xss), corr);
    }

    /// <summary>Q4_K row · Q8_K activations, one integer sum per super-block (four short dependency chains).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q4_K(byte* row, int nsb, sbyte* xq, float* xd, float* xs16)
    {
        var m4 = Vector256.Create((byte)0x0F);
        Vector256<float> acc = default, corr = default;
        for (var s = 0; s < nsb; s++)
        {
            var blk = row + 144 * s;
            var mins = UnpackK4(blk + 4);
            var sc = Both(Sse41.ConvertToVector128Int16(mins));
            var q = blk + 16;
            var x = xq + 256 * s;
            var r0 = Vector256.Load(q);
            var r1 = Vector256.Load(q + 32);
            var r2 = Vector256.Load(q + 64);
            var r3 = Vector256.Load(q + 96);
            var i0 = ScaledDot(default, r0 & m4, x, Pick(sc, 0, 0));
            var i1 = ScaledDot(default, (r0.AsUInt16() >> 4).AsByte() & m4, x + 32, Pick(sc, 1, 1));
            var i2 = ScaledDot(default, r1 & m4, x + 64, Pick(sc, 2, 2));
            var i3 = ScaledDot(default, (r1.AsUInt16() >> 4).AsByte() & m4, x + 96, Pick(sc, 3, 3));
            i0 = ScaledDot(i0, r2 & m4, x + 128, Pick(sc, 4, 4));
            i1 = ScaledDot(i1, (r2.AsUInt16() >> 4).AsByte() & m4, x + 160, Pick(sc, 5, 5));
            i2 = ScaledDot(i2, r3 & m4, x + 192, Pick(sc, 6, 6));
            i3 = ScaledDot(i3, (r3.AsUInt16() >> 4).AsByte() & m4, x + 224, Pick(sc, 7, 7));
            var dd = Halves2(blk);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single((i0 + i1) + (i2 + i3)), Vector256.Create(dd.ToScalar() * xd[8 * s]), acc);
            corr = MinTerm(mins, xs16 + 16 * s, dd.GetElement(1), corr);
        }
        return Vector256.Sum(acc) - Vector256.Sum(corr);
    }

    /// <summary>
    /// <see cref="Q4_0"/> for four sequences at once (batched decode), bit for bit: each group of eight blocks is loaded,
    /// its scales widened and its nibbles unpacked once for the four, turned so that each vector holds one block per
    /// lane (<see cref="Lanes8"/>). Against activations laid out the same way (<see cref="Q8Activations.Lanes"/>, one per
    /// sequence, <paramref name="xstride"/> bytes apart) eight dots then leave each block's sum in its own lane, in block
    /// order, where <see cref="Q4_0"/> needs three horizontal adds per sequence to get there. Integer sums are exact in
    /// any order, so the vector of block sums is the one <see cref="Group4_0"/> builds, and from there every sequence
    /// runs its float operations in the same order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q4_0x4(byte* row, int nb, sbyte* xq, sbyte* xlanes, float* xd, int* offsets, long xstride, float* y, long ystride)
    {
        var m4 = Vector256.Create((byte)0x0F);
        var dstride = xstride / 32;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var b = 0;
        for (; b + 8 <= nb; b += 8)
        {
            var p = row + 18 * b;
            var dw = Scales8(p, 18);
            var w = new Lanes8(p, m4);
            var x = xlanes + 32 * b;
            Lanes4_0(w, dw, x, xd + b, offsets + b, ref a0);
            Lanes4_0(w, dw, x + xstride, xd + dstride + b, offsets + dstride + b, ref a1);
            Lanes4_0(w, dw, x + 2 * xstride, xd + 2 * dstride + b, offsets + 2 * dstride + b, ref a2);
            Lanes4_0(w, dw, x + 3 * xstride, xd + 3 * dstride + b, offsets + 3 * dstride + b, ref a3);
        }
        if (b == nb)
        {
            // No blocks past the groups: Finish4_0's sums plus its zero tail.
            Store4(Sums4(a0, a1, a2, a3) + Vector128<float>.Zero, y, ystride);
            return;
        }
        y[0] = Finish4_0(row, b, nb, xq, xd, offsets, a0);
        y[ystride] = Finish4_0(row, b, nb, xq + xstride, xd + dstride, offsets + dstride, a1);
        y[2 * ystride] = Finish4_0(row, b, nb, xq + 2 * xstride, xd + 2 * dstride, offsets + 2 * dstride, a2);
        y[3 * ystride] = Finish4_0(row, b, nb, xq + 3 * xstride, xd + 3 * dstride, offsets + 3 * dstride, a3);
    }

    /// <summary>
    /// Whether <see cref="Q4_0x4Wide"/> runs here (AVX-512BW besides <see cref="IsSupported"/>); where it does,
    /// <see cref="Q8Activations.FillPairs()"/> lays the activations out for it.
    /// </summary>
    public static bool IsWideSupported => IsSupported && Avx512BW.IsSupported;

    /// <summary>
    /// <see cref="Q4_0x4"/> two groups (sixteen blocks) at a time in 512-bit vectors, bit for bit, against activations
    /// in <see cref="Q8Activations.WideLanes"/> order. .NET exposes no 512-bit VNNI dot, so each vector's products are
    /// summed in pairs to 16 bits (vpmaddubsw: nibble·q ≤ 15·127, two of them fit), the eight vectors of a group added
    /// in 16 bits (8·2·15·127 = 30,480 &lt; 2^15, exact), and the two halves of each block's lane added to 32 bits once
    /// (vpmaddwd against ones): the same exact integer block sums in two instructions per 64 bytes where
    /// <see cref="Q4_0x4"/> takes two 256-bit dots, but with half the weight unpacking per sequence. From the sums on,
    /// each sequence runs <see cref="Lanes4_0"/>'s float operations for the first group, then for the second, into one
    /// accumulator, as the one-sequence kernel does. Four sequences' kernel alone, 2,816 rows: 38.3–39.0 → 33.5–34.3
    /// ns per row of 1,024 columns, 96–97 → 86 of 2,816. A last odd group goes through <see cref="Q4_0x4"/>'s loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q4_0x4Wide(byte* row, int nb, sbyte* xq, sbyte* xlanes, float* xd, int* offsets, long xstride, float* y, long ystride) =>
        Q4_0x4WideRow<Four>(row, nb, xq, xlanes, xd, offsets, xstride, y, ystride);

    /// <summary>
    /// <see cref="Q4_0x4Wide"/> for <paramref name="rows"/> consecutive rows (<paramref name="rowBytes"/> apart, results
    /// at y[r], y[r + ystride], …), each bit for bit its own call: a batched decode task's rows in one call, so the
    /// per-row work around the kernel (the task loop, the type dispatch, the call, the constants) is paid once per task
    /// (a four-sequence step spent ~8 % of its samples there). Each row first asks for the weights
    /// <see cref="MatMul.PrefetchAhead"/> ahead, up to <paramref name="prefetchEnd"/> (null: no prefetching).
    /// </summary>
    // Never inlined: MatMul.WideRows took in the four wide entry points, ran out of the JIT's inlining budget and left
    // calls inside the kernels' loops (Vector256.Load, Finish4_0, the sequence count, Sums4). Compiled on their own,
    // each inlines its whole kernel: a four-sequence Q4_0 step 8.4–9.6 → 7.0–8.0 ms (bench model, three alternating pairs).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void Q4_0x4WideRows(byte* row, long rowBytes, int rows, byte* prefetchEnd, int nb, sbyte* xq, sbyte* xlanes, float* xd,
        int* offsets, long xstride, float* y, long ystride) =>
        Q4_0WideRows<Four>(row, rowBytes, rows, prefetchEnd, nb, xq, xlanes, xd, offsets, xstride, y, ystride);

    /// <summary><see cref="Q4_0x4WideRows"/> for two sequences: each weight group unpacked once for both (a batched
    /// step's last two sequences, which padded to four paid for four's dots).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] // see Q4_0x4WideRows
    public static void Q4_0x2WideRows(byte* row, long rowBytes, int rows, byte* prefetchEnd, int nb, sbyte* xq, sbyte* xlanes, float* xd,
        int* offsets, long xstride, float* y, long ystride) =>
        Q4_0WideRows<Two>(row, rowBytes, rows, prefetchEnd, nb, xq, xlanes, xd, offsets, xstride, y, ystride);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4_0WideRows<TN>(byte* row, long rowBytes, int rows, byte* prefetchEnd, int nb, sbyte* xq, sbyte* xlanes, float* xd,
        int* offsets, long xstride, float* y, long ystride) where TN : struct, ISequences
    {
        for (var r = 0; r < rows; r++, row += rowBytes)
        {
            if (prefetchEnd != null) MatMul.PrefetchAhead(row, rowBytes, prefetchEnd);
            Q4_0x4WideRow<TN>(row, nb, xq, xlanes, xd, offsets, xstride, y + r, ystride);
        }
    }

    /// <summary>How many sequences a row kernel takes (2 or 4): a type argument, so the JIT compiles each count's
    /// kernel without the other's branches.</summary>
    internal interface ISequences
    {
        static abstract int Count { get; }
    }

    internal struct Two : ISequences
    {
        // Inlined by request: in the large batched kernels the JIT's inlining budget had run out and left a call.
        public static int Count
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            get => 2;
        }
    }

    internal struct Four : ISequences
    {
        public static int Count
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            get => 4;
        }
    }

    /// <summary>One row against <typeparamref name="TN"/>'s count of sequences (the first two always, the other two
    /// when it is four); each sequence's operations are those of the four-sequence kernel, so bit for bit the same.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4_0x4WideRow<TN>(byte* row, int nb, sbyte* xq, sbyte* xlanes, float* xd, int* offsets, long xstride, float* y, long ystride)
        where TN : struct, ISequences
    {
        var m4 = Vector512.Create((byte)0x0F);
        var dstride = xstride / 32;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var b = 0;
        for (; b + 16 <= nb; b += 16)
        {
            var p = row + 18 * b;
            var dw0 = Scales8(p, 18);
            var dw1 = Scales8(p + 8 * 18, 18);
            var w = new Lanes16(p, m4);
            var x = xlanes + 32 * b;
            Lanes4_0Wide(w, dw0, dw1, x, xd + b, offsets + b, ref a0);
            Lanes4_0Wide(w, dw0, dw1, x + xstride, xd + dstride + b, offsets + dstride + b, ref a1);
            if (TN.Count == 4)
            {
                Lanes4_0Wide(w, dw0, dw1, x + 2 * xstride, xd + 2 * dstride + b, offsets + 2 * dstride + b, ref a2);
                Lanes4_0Wide(w, dw0, dw1, x + 3 * xstride, xd + 3 * dstride + b, offsets + 3 * dstride + b, ref a3);
            }
        }
        if (b + 8 <= nb)
        {
            var p = row + 18 * b;
            var dw = Scales8(p, 18);
            var w = new Lanes8(p, m4.GetLower());
            var x = xlanes + 32 * b;
            Lanes4_0(w, dw, x, xd + b, offsets + b, ref a0);
            Lanes4_0(w, dw, x + xstride, xd + dstride + b, offsets + dstride + b, ref a1);
            if (TN.Count == 4)
            {
                Lanes4_0(w, dw, x + 2 * xstride, xd + 2 * dstride + b, offsets + 2 * dstride + b, ref a2);
                Lanes4_0(w, dw, x + 3 * xstride, xd + 3 * dstride + b, offsets + 3 * dstride + b, ref a3);
            }
            b += 8;
        }
        if (b == nb)
        {
            // No blocks past the groups: Finish4_0's sums plus its zero tail.
            Store<TN>(Sums4(a0, a1, a2, a3) + Vector128<float>.Zero, y, ystride);
            return;
        }
        y[0] = Finish4_0(row, b, nb, xq, xd, offsets, a0);
        y[ystride] = Finish4_0(row, b, nb, xq + xstride, xd + dstride, offsets + dstride, a1);
        if (TN.Count == 4)
        {
            y[2 * ystride] = Finish4_0(row, b, nb, xq + 2 * xstride, xd + 2 * dstride, offsets + 2 * dstride, a2);
            y[3 * ystride] = Finish4_0(row, b, nb, xq + 3 * xstride, xd + 3 * dstride, offsets + 3 * dstride, a3);
        }
    }

    /// <summary><see cref="Lanes8"/> of two consecutive groups side by side: the first in each vector's low 256 bits,
    /// the second in its high ones.</summary>
    private struct Lanes16
    {
        public Vector512<byte> W0, W1, W2, W3, W4, W5, W6, W7;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Lanes16(byte* p, Vector512<byte> m4)
        {
            const int g = 8 * 18;
            var v0 = Join(Vector256.Create(Vector128.Load(p + 2), Vector128.Load(p + 2 + 4 * 18)),
                Vector256.Create(Vector128.Load(p + g + 2), Vector128.Load(p + g + 2 + 4 * 18))).AsInt32();
            var v1 = Join(Vector256.Create(Vector128.Load(p + 2 + 18), Vector128.Load(p + 2 + 5 * 18)),
                Vector256.Create(Vector128.Load(p + g + 2 + 18), Vector128.Load(p + g + 2 + 5 * 18))).AsInt32();
            var v2 = Join(Vector256.Create(Vector128.Load(p + 2 + 2 * 18), Vector128.Load(p + 2 + 6 * 18)),
                Vector256.Create(Vector128.Load(p + g + 2 + 2 * 18), Vector128.Load(p + g + 2 + 6 * 18))).AsInt32();
            var v3 = Join(Vector256.Create(Vector128.Load(p + 2 + 3 * 18), Vector128.Load(p + 2 + 7 * 18)),
                Vector256.Create(Vector128.Load(p + g + 2 + 3 * 18), Vector128.Load(p + g + 2 + 7 * 18))).AsInt32();
            // Lanes8's transpose; the 512-bit unpacks work within each 128-bit quarter, so each half gets its group's.
            var t0 = Avx512F.UnpackLow(v0, v1).AsInt64();
            var t1 = Avx512F.UnpackHigh(v0, v1).AsInt64();
            var t2 = Avx512F.UnpackLow(v2, v3).AsInt64();
            var t3 = Avx512F.UnpackHigh(v2, v3).AsInt64();
            var u0 = Avx512F.UnpackLow(t0, t2).AsByte();
            var u1 = Avx512F.UnpackHigh(t0, t2).AsByte();
            var u2 = Avx512F.UnpackLow(t1, t3).AsByte();
            var u3 = Avx512F.UnpackHigh(t1, t3).AsByte();
            W0 = u0 & m4;
            W1 = u1 & m4;
            W2 = u2 & m4;
            W3 = u3 & m4;
            W4 = (u0.AsUInt16() >> 4).AsByte() & m4;
            W5 = (u1.AsUInt16() >> 4).AsByte() & m4;
            W6 = (u2.AsUInt16() >> 4).AsByte() & m4;
            W7 = (u3.AsUInt16() >> 4).AsByte() & m4;
        }

        /// <summary>One 512-bit vector from two 256-bit ones: an insert into the first (Vector512.Create from halves
        /// compiles to two inserts into a register carrying an old value).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<byte> Join(Vector256<byte> lo, Vector256<byte> hi) => Avx512F.InsertVector256(lo.ToVector512Unsafe(), hi, 1);
    }

    /// <summary>One sequence's share of two groups (<see cref="Q4_0x4Wide"/>): both groups' exact block sums in one
    /// vector, then <see cref="Lanes4_0"/>'s float operations on the first group's eight and on the second's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Lanes4_0Wide(in Lanes16 w, Vector256<float> dw0, Vector256<float> dw1, sbyte* x, float* xd, int* offsets, ref Vector256<float> acc)
    {
        var s = Avx512BW.MultiplyAddAdjacent(w.W0, Vector512.Load(x)) + Avx512BW.MultiplyAddAdjacent(w.W1, Vector512.Load(x + 64));
        s += Avx512BW.MultiplyAddAdjacent(w.W2, Vector512.Load(x + 128)) + Avx512BW.MultiplyAddAdjacent(w.W3, Vector512.Load(x + 192));
        s += Avx512BW.MultiplyAddAdjacent(w.W4, Vector512.Load(x + 256)) + Avx512BW.MultiplyAddAdjacent(w.W5, Vector512.Load(x + 320));
        s += Avx512BW.MultiplyAddAdjacent(w.W6, Vector512.Load(x + 384)) + Avx512BW.MultiplyAddAdjacent(w.W7, Vector512.Load(x + 448));
        var sums = Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(s, Vector512<short>.One) - Vector512.Load(offsets));
        acc = Fma.MultiplyAdd(sums.GetLower(), dw0 * Vector256.Load(xd), acc);
        acc = Fma.MultiplyAdd(sums.GetUpper(), dw1 * Vector256.Load(xd + 8), acc);
    }

    /// <summary>
    /// A group of eight blocks' nibbles with one block per 32-bit lane, in block order: vector j holds values 4j..4j+3 of
    /// block k in lane k (j &lt; 4 from the low nibbles, values 0–15; j ≥ 4 from the high ones, 16–31).
    /// </summary>
    private struct Lanes8
    {
        public Vector256<byte> W0, W1, W2, W3, W4, W5, W6, W7;

        /// <summary>
        /// The packed bytes are loaded as <see cref="Nibbles8"/> loads them (halves holding blocks i and i+4), turned
        /// once (a 4×4 transpose of 32-bit groups within each half, so output lane k is block k), and only then split
        /// into low and high nibbles: both splits work byte by byte, so they give what transposing the split halves
        /// would, with half the shuffles.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Lanes8(byte* p, Vector256<byte> m4)
        {
            var v0 = Vector256.Create(Vector128.Load(p + 2), Vector128.Load(p + 2 + 4 * 18)).AsInt32();
            var v1 = Vector256.Create(Vector128.Load(p + 2 + 18), Vector128.Load(p + 2 + 5 * 18)).AsInt32();
            var v2 = Vector256.Create(Vector128.Load(p + 2 + 2 * 18), Vector128.Load(p + 2 + 6 * 18)).AsInt32();
            var v3 = Vector256.Create(Vector128.Load(p + 2 + 3 * 18), Vector128.Load(p + 2 + 7 * 18)).AsInt32();
            var t0 = Avx2.UnpackLow(v0, v1).AsInt64();
            var t1 = Avx2.UnpackHigh(v0, v1).AsInt64();
            var t2 = Avx2.UnpackLow(v2, v3).AsInt64();
            var t3 = Avx2.UnpackHigh(v2, v3).AsInt64();
            var u0 = Avx2.UnpackLow(t0, t2).AsByte();
            var u1 = Avx2.UnpackHigh(t0, t2).AsByte();
            var u2 = Avx2.UnpackLow(t1, t3).AsByte();
            var u3 = Avx2.UnpackHigh(t1, t3).AsByte();
            W0 = u0 & m4;
            W1 = u1 & m4;
            W2 = u2 & m4;
            W3 = u3 & m4;
            W4 = (u0.AsUInt16() >> 4).AsByte() & m4;
            W5 = (u1.AsUInt16() >> 4).AsByte() & m4;
            W6 = (u2.AsUInt16() >> 4).AsByte() & m4;
            W7 = (u3.AsUInt16() >> 4).AsByte() & m4;
        }
    }

    /// <summary>
    /// One sequence's share of a group in lanes form: two chains of four dots (each lane one block's partial sums), their
    /// sum the eight blocks' sums in block order, then exactly <see cref="Group4_0"/>'s operations.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Lanes4_0(in Lanes8 w, Vector256<float> dw, sbyte* x, float* xd, int* offsets, ref Vector256<float> acc)
    {
        var lo = AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, w.W0, Vector256.Load(x)), w.W1, Vector256.Load(x + 32));
        lo = AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(lo, w.W2, Vector256.Load(x + 64)), w.W3, Vector256.Load(x + 96));
        var hi = AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, w.W4, Vector256.Load(x + 128)), w.W5, Vector256.Load(x + 160));
        hi = AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(hi, w.W6, Vector256.Load(x + 192)), w.W7, Vector256.Load(x + 224));
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(lo + hi - Vector256.Load(offsets)), dw * Vector256.Load(xd), acc);
    }

    /// <summary>
    /// The end of a Q4_0 row dot from block <paramref name="b"/> on: the blocks past the last group of eight, one at a
    /// time (the same exact integer sum, its float multiply-add scalar), then the accumulator's lanes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish4_0(byte* row, int b, int nb, sbyte* xq, float* xd, int* offsets, Vector256<float> acc)
    {
        var m4 = Vector256.Create((byte)0x0F);
        var shifts = Vector256.Create(0u, 0, 0, 0, 4, 4, 4, 4);
        var tail = 0f;
        for (; b < nb; b++)
        {
            var p = row + 18 * b;
            var sum = Vector256.Sum(AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Nibbles(p + 2, shifts, m4), Vector256.Load(xq + 32 * b)));
            tail = MathF.FusedMultiplyAdd(sum - offsets[b], QuantDot.H2F(p) * xd[b], tail);
        }
        return Vector256.Sum(acc) + tail;
    }

    /// <summary>
    /// <see cref="Q4_K"/> for four sequences (activations <paramref name="xstride"/> values apart): each super-block's
    /// scales, mins and nibbles are unpacked once for all four, while every sequence's float work (its conversion, scale
    /// product, multiply-add and min term, in <see cref="Q4_K"/>'s order) is its own, and integer sums are exact in any
    /// order. So each result is bit for bit <see cref="Q4_K"/>'s: batched decode stays batch-invariant.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q4_Kx4(byte* row, int nsb, sbyte* xq, float* xd, float* xs16, long xstride, float* y, long ystride)
    {
        var m4 = Vector256.Create((byte)0x0F);
        long dstride = xstride / 32, sstride = xstride / 16;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        Vector256<float> corr0 = default, corr1 = default, corr2 = default, corr3 = default;
        for (var s = 0; s < nsb; s++)
        {
            var blk = row + 144 * s;
            var mins = UnpackK4(blk + 4);
            var sc = Both(Sse41.ConvertToVector128Int16(mins));
            var q = blk + 16;
            var r0 = Vector256.Load(q);
            var r1 = Vector256.Load(q + 32);
            var r2 = Vector256.Load(q + 64);
            var r3 = Vector256.Load(q + 96);
            var n0 = r0 & m4;
            var n1 = (r0.AsUInt16() >> 4).AsByte() & m4;
            var n2 = r1 & m4;
            var n3 = (r1.AsUInt16() >> 4).AsByte() & m4;
            var n4 = r2 & m4;
            var n5 = (r2.AsUInt16() >> 4).AsByte() & m4;
            var n6 = r3 & m4;
            var n7 = (r3.AsUInt16() >> 4).AsByte() & m4;
            var dd = Halves2(blk);
            var d = dd.ToScalar();
            var dmin = dd.GetElement(1);
            for (var j = 0; j < 4; j++)
            {
                var x = xq + j * xstride + 256 * s;
                var i0 = ScaledDot(default, n0, x, Pick(sc, 0, 0));
                var i1 = ScaledDot(default, n1, x + 32, Pick(sc, 1, 1));
                var i2 = ScaledDot(default, n2, x + 64, Pick(sc, 2, 2));
                var i3 = ScaledDot(default, n3, x + 96, Pick(sc, 3, 3));
                i0 = ScaledDot(i0, n4, x + 128, Pick(sc, 4, 4));
                i1 = ScaledDot(i1, n5, x + 160, Pick(sc, 5, 5));
                i2 = ScaledDot(i2, n6, x + 192, Pick(sc, 6, 6));
                i3 = ScaledDot(i3, n7, x + 224, Pick(sc, 7, 7));
                var sum = Avx.ConvertToVector256Single((i0 + i1) + (i2 + i3));
                var scale = Vector256.Create(d * xd[j * dstride + 8 * s]);
                var xs = xs16 + j * sstride + 16 * s;
                switch (j)
                {
                    case 0: acc0 = Fma.MultiplyAdd(sum, scale, acc0); corr0 = MinTerm(mins, xs, dmin, corr0); break;
                    case 1: acc1 = Fma.MultiplyAdd(sum, scale, acc1); corr1 = MinTerm(mins, xs, dmin, corr1); break;
                    case 2: acc2 = Fma.MultiplyAdd(sum, scale, acc2); corr2 = MinTerm(mins, xs, dmin, corr2); break;
                    default: acc3 = Fma.MultiplyAdd(sum, scale, acc3); corr3 = MinTerm(mins, xs, dmin, corr3); break;
                }
            }
        }
        Store4(Sums4(acc0, acc1, acc2, acc3) - Sums4(corr0, corr1, corr2, corr3), y, ystride);
    }

    /// <summary>Q5_K row · Q8_K activations: Q4_K with the fifth bit of each value from qh.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q5_K(byte* row, int nsb, sbyte* xq, float* xd, float* xs16)
    {
        var m4 = Vector256.Create((byte)0x0F);
        var bit = Vector256.Create((byte)0x10);
        var four = Vector256.Create((byte)4);
        Vector256<float> acc = default, corr = default;
        for (var s = 0; s < nsb; s++)
        {
            var blk = row + 176 * s;
            var mins = UnpackK4(blk + 4);
            var sc = Both(Sse41.ConvertToVector128Int16(mins));
            var qh = Vector256.Load(blk + 16).AsUInt16();
            var q = blk + 48;
            var x = xq + 256 * s;
            Vector256<int> lo = default, hi = default;
            // Shuffle masks picking scale 2k (low nibbles) and 2k+1 (high), stepped per k: the JIT keeps vector
            // constants only when they are constant, so the masks advance by addition instead of being rebuilt.
            var pickLo = Vector256.Create((ushort)0x0100).AsByte();
            var pickHi = Vector256.Create((ushort)0x0302).AsByte();
            for (var k = 0; k < 4; k++)
            {
                var raw = Vector256.Load(q + 32 * k);
                // Bit 2k (then 2k+1) of each qh byte moved to bit 4: shifting 16-bit lanes is safe once masked.
                var h0 = (2 * k <= 4 ? qh << (4 - 2 * k) : qh >> (2 * k - 4)).AsByte() & bit;
                var h1 = (2 * k + 1 <= 4 ? qh << (3 - 2 * k) : qh >> (2 * k - 3)).AsByte() & bit;
                lo = ScaledDot(lo, (raw & m4) | h0, x + 64 * k, Avx2.Shuffle(sc, pickLo).AsInt16());
                hi = ScaledDot(hi, ((raw.AsUInt16() >> 4).AsByte() & m4) | h1, x + 64 * k + 32, Avx2.Shuffle(sc, pickHi).AsInt16());
                pickLo += four;
                pickHi += four;
            }
            var dd = Halves2(blk);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(lo + hi), Vector256.Create(dd.ToScalar() * xd[8 * s]), acc);
            corr = MinTerm(mins, xs16 + 16 * s, dd.GetElement(1), corr);
        }
        return Vector256.Sum(acc) - Vector256.Sum(corr);
    }

    /// <summary>
    /// Q6_K row · Q8_K activations, one integer sum per super-block: Σ_j sc_j·Σ q·x over the sixteen 16-value groups,
    /// minus 32·Σ_j sc_j·Σx (the −32 offset of every 6-bit value; <paramref name="sums"/> is the token's
    /// <see cref="Q8Activations.IntSum16"/>, one vpmaddwd against the scales), so each super-block's Σ sc·(q−32)·x is
    /// exact, as llama.cpp computes it, before one conversion and one multiply-add by d·dx.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q6_K(byte* row, int nsb, sbyte* xq, float* xd, short* sums)
    {
        var m4 = Vector256.Create((byte)0x0F);
        var m30 = Vector256.Create((byte)0x30);
        Vector256<float> acc = default;
        for (var s = 0; s < nsb; s++)
        {
            var blk = row + 210 * s;
            var d = QuantDot.H2F(blk + 208);
            var scales = (sbyte*)(blk + 192);
            Vector256<int> sumi0 = default, sumi1 = default;
            for (var h = 0; h < 2; h++)
            {
                var ql = blk + 64 * h;
                var qh = Vector256.Load(blk + 128 + 32 * h).AsUInt16();
                var sc = Both(Sse41.ConvertToVector128Int16(Vector128.CreateScalar(*(long*)(scales + 8 * h)).AsSByte()));
                var l0 = Vector256.Load(ql);
                var l1 = Vector256.Load(ql + 32);
                var q0 = (l0 & m4) | ((qh << 4).AsByte() & m30);
                var q1 = (l1 & m4) | ((qh << 2).AsByte() & m30);
                var q2 = ((l0.AsUInt16() >> 4).AsByte() & m4) | (qh.AsByte() & m30);
                var q3 = ((l1.AsUInt16() >> 4).AsByte() & m4) | ((qh >> 2).AsByte() & m30);
                var x = xq + 256 * s + 128 * h;
                sumi0 = ScaledDot(sumi0, q0, x, Pick(sc, 0, 1));
                sumi1 = ScaledDot(sumi1, q1, x + 32, Pick(sc, 2, 3));
                sumi0 = ScaledDot(sumi0, q2, x + 64, Pick(sc, 4, 5));
                sumi1 = ScaledDot(sumi1, q3, x + 96, Pick(sc, 6, 7));
            }
            var offset = Avx2.MultiplyAddAdjacent(Scales16(scales), Vector256.Load(sums + 16 * s)) << 5;
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi0 + sumi1 - offset), Vector256.Create(d * xd[8 * s]), acc);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>A Q6_K super-block's sixteen signed 8-bit scales as shorts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Scales16(sbyte* scales) => Avx2.ConvertToVector256Int16(Vector128.Load(scales));

    /// <summary>
    /// <see cref="Q6_K"/> for four sequences (activations <paramref name="xstride"/> values apart): each super-block's
    /// 6-bit values and scales are unpacked once for all four; every sequence's float work is its own, in
    /// <see cref="Q6_K"/>'s order (integer sums are exact in any order), so each result is bit for bit <see cref="Q6_K"/>'s.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q6_Kx4(byte* row, int nsb, sbyte* xq, float* xd, short* sums, long xstride, float* y, long ystride)
    {
        var m4 = Vector256.Create((byte)0x0F);
        var m30 = Vector256.Create((byte)0x30);
        long dstride = xstride / 32, sstride = xstride / 16;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (var s = 0; s < nsb; s++)
        {
            var blk = row + 210 * s;
            var d = QuantDot.H2F(blk + 208);
            var scales = (sbyte*)(blk + 192);
            var qh0 = Vector256.Load(blk + 128).AsUInt16();
            var qh1 = Vector256.Load(blk + 160).AsUInt16();
            var sc0 = Both(Sse41.ConvertToVector128Int16(Vector128.CreateScalar(*(long*)scales).AsSByte()));
            var sc1 = Both(Sse41.ConvertToVector128Int16(Vector128.CreateScalar(*(long*)(scales + 8)).AsSByte()));
            var l0 = Vector256.Load(blk);
            var l1 = Vector256.Load(blk + 32);
            var l2 = Vector256.Load(blk + 64);
            var l3 = Vector256.Load(blk + 96);
            var q0 = (l0 & m4) | ((qh0 << 4).AsByte() & m30);
            var q1 = (l1 & m4) | ((qh0 << 2).AsByte() & m30);
            var q2 = ((l0.AsUInt16() >> 4).AsByte() & m4) | (qh0.AsByte() & m30);
            var q3 = ((l1.AsUInt16() >> 4).AsByte() & m4) | ((qh0 >> 2).AsByte() & m30);
            var q4 = (l2 & m4) | ((qh1 << 4).AsByte() & m30);
            var q5 = (l3 & m4) | ((qh1 << 2).AsByte() & m30);
            var q6 = ((l2.AsUInt16() >> 4).AsByte() & m4) | (qh1.AsByte() & m30);
            var q7 = ((l3.AsUInt16() >> 4).AsByte() & m4) | ((qh1 >> 2).AsByte() & m30);
            var s16 = Scales16(scales);
            Vector256<short> p0 = Pick(sc0, 0, 1), p1 = Pick(sc0, 2, 3), p2 = Pick(sc0, 4, 5), p3 = Pick(sc0, 6, 7);
            Vector256<short> p4 = Pick(sc1, 0, 1), p5 = Pick(sc1, 2, 3), p6 = Pick(sc1, 4, 5), p7 = Pick(sc1, 6, 7);
            var x = xq + 256 * s;
            var ds = xd + 8 * s;
            var xs = sums + 16 * s;
            Seq6_K(q0, q1, q2, q3, q4, q5, q6, q7, p0, p1, p2, p3, p4, p5, p6, p7, s16, d, x, ds, xs, ref acc0);
            Seq6_K(q0, q1, q2, q3, q4, q5, q6, q7, p0, p1, p2, p3, p4, p5, p6, p7, s16, d, x + xstride, ds + dstride, xs + sstride, ref acc1);
            Seq6_K(q0, q1, q2, q3, q4, q5, q6, q7, p0, p1, p2, p3, p4, p5, p6, p7, s16, d, x + 2 * xstride, ds + 2 * dstride, xs + 2 * sstride, ref acc2);
            Seq6_K(q0, q1, q2, q3, q4, q5, q6, q7, p0, p1, p2, p3, p4, p5, p6, p7, s16, d, x + 3 * xstride, ds + 3 * dstride, xs + 3 * sstride, ref acc3);
        }
        Store4(Sums4(acc0, acc1, acc2, acc3), y, ystride);
    }

    /// <summary>
    /// <see cref="Q6_Kx4"/> in 512-bit vectors, bit for bit: each vector holds two of its 256-bit ones side by side (q0
    /// with q1, q2 with q3, …, against 64 consecutive activations), so a sequence takes four byte-pair sums and four
    /// scale multiplies (vpmaddwd; .NET has no 512-bit vpdpwssd) and three additions where <see cref="Q6_Kx4"/> takes
    /// eight and eight. Lane i of the low half gathers what <see cref="Q6_Kx4"/>'s first chain gathers in lane i, the
    /// high half its second chain's; low plus high is its sum of the two, the same exact integers, and from there the
    /// same float operations. Four sequences' kernel alone, 32,000 rows of 1,024 columns (an output matrix): 57–59 →
    /// 45–49 ns per row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q6_Kx4Wide(byte* row, int nsb, sbyte* xq, float* xd, short* sums, long xstride, float* y, long ystride) =>
        Q6_KWideRows<Four>(row, 0, 1, null, nsb, xq, xd, sums, xstride, y, ystride);

    /// <summary>
    /// <see cref="Q6_Kx4Wide"/> for <paramref name="rows"/> consecutive rows (<paramref name="rowBytes"/> apart, results
    /// at y[r], y[r + ystride], …), each bit for bit its own call, as <see cref="Q4_0x4WideRows"/> does for Q4_0: the
    /// output matrix of a four-sequence step is 32,000 short rows, and the work around each call showed in its
    /// profile. Each row first asks for the weights <see cref="MatMul.PrefetchAhead"/> ahead, up to
    /// <paramref name="prefetchEnd"/> (null: no prefetching).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] // see Q4_0x4WideRows
    public static void Q6_Kx4WideRows(byte* row, long rowBytes, int rows, byte* prefetchEnd, int nsb, sbyte* xq, float* xd,
        short* sums, long xstride, float* y, long ystride) =>
        Q6_KWideRows<Four>(row, rowBytes, rows, prefetchEnd, nsb, xq, xd, sums, xstride, y, ystride);

    /// <summary><see cref="Q6_Kx4WideRows"/> for two sequences (see <see cref="Q4_0x2WideRows"/>).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] // see Q4_0x4WideRows
    public static void Q6_Kx2WideRows(byte* row, long rowBytes, int rows, byte* prefetchEnd, int nsb, sbyte* xq, float* xd,
        short* sums, long xstride, float* y, long ystride) =>
        Q6_KWideRows<Two>(row, rowBytes, rows, prefetchEnd, nsb, xq, xd, sums, xstride, y, ystride);

    /// <summary>
    /// The rows loop and the row kernel in one method: the kernel has more locals than the JIT inlines, so a separate
    /// row method stayed a call per row. Not inlined into its entry points either, for the same reason: optimized at
    /// once, as they are.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Q6_KWideRows<TN>(byte* row, long rowBytes, int rows, byte* prefetchEnd, int nsb, sbyte* xq, float* xd,
        short* sums, long xstride, float* y, long ystride) where TN : struct, ISequences
    {
        var m4 = Vector512.Create((byte)0x0F);
        var m30 = Vector512.Create((byte)0x30);
        // Per 16-bit lane: the low half (q0, q4) shifts qh as the 256-bit kernel's first vector does, the high half
        // (q1, q5) as its second; likewise q2/q3 (q6/q7) to the right.
        var left = Vector512.Create(Vector256.Create((ushort)4), Vector256.Create((ushort)2));
        var right = Vector512.Create(Vector256.Create((ushort)0), Vector256.Create((ushort)2));
        // Scale s of the super-block for each 16-bit product pair: 8 pairs (16 values) per scale.
        var pick01 = Vector512.Create(Vector256.Create(Vector128.Create((short)0), Vector128.Create((short)1)), Vector256.Create(Vector128.Create((short)2), Vector128.Create((short)3)));
        var four = Vector512.Create((short)4);
        long dstride = xstride / 32, sstride = xstride / 16;
        for (var r = 0; r < rows; r++, row += rowBytes, y++)
        {
            if (prefetchEnd != null) MatMul.PrefetchAhead(row, rowBytes, prefetchEnd);
            Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
            for (var s = 0; s < nsb; s++)
            {
                var blk = row + 210 * s;
                var d = QuantDot.H2F(blk + 208);
                var scales = (sbyte*)(blk + 192);
                var qh0 = Twice(Vector256.Load(blk + 128)).AsUInt16();
                var qh1 = Twice(Vector256.Load(blk + 160)).AsUInt16();
                var l01 = Vector512.Load(blk);
                var l23 = Vector512.Load(blk + 64);
                var q01 = (l01 & m4) | (Avx512BW.ShiftLeftLogicalVariable(qh0, left).AsByte() & m30);
                var q23 = ((l01.AsUInt16() >> 4).AsByte() & m4) | (Avx512BW.ShiftRightLogicalVariable(qh0, right).AsByte() & m30);
                var q45 = (l23 & m4) | (Avx512BW.ShiftLeftLogicalVariable(qh1, left).AsByte() & m30);
                var q67 = ((l23.AsUInt16() >> 4).AsByte() & m4) | (Avx512BW.ShiftRightLogicalVariable(qh1, right).AsByte() & m30);
                var s16 = Scales16(scales);
                var wide = s16.ToVector512Unsafe();
                var p01 = Avx512BW.PermuteVar32x16(wide, pick01);
                var p23 = Avx512BW.PermuteVar32x16(wide, pick01 + four);
                var p45 = Avx512BW.PermuteVar32x16(wide, pick01 + four + four);
                var p67 = Avx512BW.PermuteVar32x16(wide, pick01 + four + four + four);
                var x = xq + 256 * s;
                var ds = xd + 8 * s;
                var xs = sums + 16 * s;
                Seq6_KWide(q01, q23, q45, q67, p01, p23, p45, p67, s16, d, x, ds, xs, ref acc0);
                Seq6_KWide(q01, q23, q45, q67, p01, p23, p45, p67, s16, d, x + xstride, ds + dstride, xs + sstride, ref acc1);
                if (TN.Count == 4)
                {
                    Seq6_KWide(q01, q23, q45, q67, p01, p23, p45, p67, s16, d, x + 2 * xstride, ds + 2 * dstride, xs + 2 * sstride, ref acc2);
                    Seq6_KWide(q01, q23, q45, q67, p01, p23, p45, p67, s16, d, x + 3 * xstride, ds + 3 * dstride, xs + 3 * sstride, ref acc3);
                }
            }
            Store<TN>(Sums4(acc0, acc1, acc2, acc3), y, ystride);
        }
    }

    /// <summary>
    /// A 256-bit vector in both halves of a 512-bit one, loaded and then inserted. Not
    /// <c>Avx512F.BroadcastVector256ToVector512</c> from memory: the .NET 10.0.12 JIT encodes its displacement scaled
    /// for a 16-byte operand, so the load reads from twice the offset (seen as wrong sums here; correct with minimal
    /// optimization, where the address is computed first).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Twice(Vector256<byte> v) => Avx512F.InsertVector256(v.ToVector512Unsafe(), v, 1);

    /// <summary>One sequence's share of a super-block in <see cref="Q6_Kx4Wide"/>, ending in <see cref="Seq6_K"/>'s
    /// float operations.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Seq6_KWide(Vector512<byte> q01, Vector512<byte> q23, Vector512<byte> q45, Vector512<byte> q67,
        Vector512<short> p01, Vector512<short> p23, Vector512<short> p45, Vector512<short> p67, Vector256<short> scales,
        float d, sbyte* x, float* xd, short* sums, ref Vector256<float> acc)
    {
        var a = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q01, Vector512.Load(x)), p01)
            + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q23, Vector512.Load(x + 64)), p23);
        var b = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q45, Vector512.Load(x + 128)), p45)
            + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q67, Vector512.Load(x + 192)), p67);
        var sumi = a + b;
        var offset = Avx2.MultiplyAddAdjacent(scales, Vector256.Load(sums)) << 5;
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi.GetLower() + sumi.GetUpper() - offset), Vector256.Create(d * *xd), acc);
    }

    /// <summary>
    /// One sequence's share of a super-block in <see cref="Q6_Kx4"/>: <see cref="Q6_K"/>'s operations on the unpacked
    /// values, in its order. Inlined four times with the accumulators as locals of the caller, so they stay in
    /// registers (selecting them by a loop index kept them in memory).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Seq6_K(Vector256<byte> q0, Vector256<byte> q1, Vector256<byte> q2, Vector256<byte> q3,
        Vector256<byte> q4, Vector256<byte> q5, Vector256<byte> q6, Vector256<byte> q7, Vector256<short> p0,
        Vector256<short> p1, Vector256<short> p2, Vector256<short> p3, Vector256<short> p4, Vector256<short> p5,
        Vector256<short> p6, Vector256<short> p7, Vector256<short> scales, float d, sbyte* x, float* xd, short* sums,
        ref Vector256<float> acc)
    {
        var sumi0 = ScaledDot(default, q0, x, p0);
        var sumi1 = ScaledDot(default, q1, x + 32, p1);
        sumi0 = ScaledDot(sumi0, q2, x + 64, p2);
        sumi1 = ScaledDot(sumi1, q3, x + 96, p3);
        sumi0 = ScaledDot(sumi0, q4, x + 128, p4);
        sumi1 = ScaledDot(sumi1, q5, x + 160, p5);
        sumi0 = ScaledDot(sumi0, q6, x + 192, p6);
        sumi1 = ScaledDot(sumi1, q7, x + 224, p7);
        var offset = Avx2.MultiplyAddAdjacent(scales, Vector256.Load(sums)) << 5;
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi0 + sumi1 - offset), Vector256.Create(d * *xd), acc);
    }

    /// <summary>
    /// <see cref="F16"/> for two sequences (<paramref name="xstride"/> floats apart): each group of halves is converted
    /// once for both, while each sequence keeps <see cref="F16"/>'s four chains, order and final sum, so each result is
    /// bit for bit <see cref="F16"/>'s.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void F16x2(byte* row, float* x, long xstride, int n, float* y, long ystride)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        var h = (short*)row;
        var z = x + xstride;
        var i = 0;
        for (; i + 32 <= n; i += 32)
        {
            var w0 = Halves(Avx2.ConvertToVector256Int32(h + i));
            var w1 = Halves(Avx2.ConvertToVector256Int32(h + i + 8));
            var w2 = Halves(Avx2.ConvertToVector256Int32(h + i + 16));
            var w3 = Halves(Avx2.ConvertToVector256Int32(h + i + 24));
            a0 = Fma.MultiplyAdd(w0, Vector256.Load(x + i), a0);
            a1 = Fma.MultiplyAdd(w1, Vector256.Load(x + i + 8), a1);
            a2 = Fma.MultiplyAdd(w2, Vector256.Load(x + i + 16), a2);
            a3 = Fma.MultiplyAdd(w3, Vector256.Load(x + i + 24), a3);
            b0 = Fma.MultiplyAdd(w0, Vector256.Load(z + i), b0);
            b1 = Fma.MultiplyAdd(w1, Vector256.Load(z + i + 8), b1);
            b2 = Fma.MultiplyAdd(w2, Vector256.Load(z + i + 16), b2);
            b3 = Fma.MultiplyAdd(w3, Vector256.Load(z + i + 24), b3);
        }
        for (; i + 8 <= n; i += 8)
        {
            var w = Halves(Avx2.ConvertToVector256Int32(h + i));
            a0 = Fma.MultiplyAdd(w, Vector256.Load(x + i), a0);
            b0 = Fma.MultiplyAdd(w, Vector256.Load(z + i), b0);
        }
        var sa = Vector256.Sum((a0 + a1) + (a2 + a3));
        var sb = Vector256.Sum((b0 + b1) + (b2 + b3));
        for (; i < n; i++)
        {
            var w = (float)BitConverter.Int16BitsToHalf(h[i]);
            sa += w * x[i];
            sb += w * z[i];
        }
        y[0] = sa;
        y[ystride] = sb;
    }

    /// <summary>F16 row · float x: 32 halves per step in four independent chains, one sign-extending load each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float F16(byte* row, float* x, int n)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var h = (short*)row;
        var i = 0;
        for (; i + 32 <= n; i += 32)
        {
            a0 = Fma.MultiplyAdd(Halves(Avx2.ConvertToVector256Int32(h + i)), Vector256.Load(x + i), a0);
            a1 = Fma.MultiplyAdd(Halves(Avx2.ConvertToVector256Int32(h + i + 8)), Vector256.Load(x + i + 8), a1);
            a2 = Fma.MultiplyAdd(Halves(Avx2.ConvertToVector256Int32(h + i + 16)), Vector256.Load(x + i + 16), a2);
            a3 = Fma.MultiplyAdd(Halves(Avx2.ConvertToVector256Int32(h + i + 24)), Vector256.Load(x + i + 24), a3);
        }
        for (; i + 8 <= n; i += 8)
            a0 = Fma.MultiplyAdd(Halves(Avx2.ConvertToVector256Int32(h + i)), Vector256.Load(x + i), a0);
        var s = Vector256.Sum((a0 + a1) + (a2 + a3));
        for (; i < n; i++) s += (float)BitConverter.Int16BitsToHalf(h[i]) * x[i];
        return s;
    }
}
