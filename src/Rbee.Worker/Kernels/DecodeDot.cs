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
    /// Eight halves → floats: sign-extended to 32 bits, shifted so the 15 magnitude bits sit in a float's place with
    /// the sign kept in bit 31, then rebased by 2^112 (exact for every finite half, subnormals included).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Halves(Vector256<int> signExtended) =>
        ((signExtended << 13) & Vector256.Create(unchecked((int)0x8FFFE000))).AsSingle() * Vector256.Create(5.192297e33f);

    /// <summary>The fp16 scales of eight consecutive blocks <paramref name="stride"/> bytes apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Scales8(byte* p, int stride)
    {
        var h = Vector128.Create(
            *(short*)p, *(short*)(p + stride), *(short*)(p + 2 * stride), *(short*)(p + 3 * stride),
            *(short*)(p + 4 * stride), *(short*)(p + 5 * stride), *(short*)(p + 6 * stride), *(short*)(p + 7 * stride));
        return Halves(Avx2.ConvertToVector256Int32(h));
    }

    /// <summary>Per-16 activation sums of eight 32-blocks (16 floats) added in pairs, in block order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> BlockSums8(float* s16)
    {
        var pairs = Avx.HorizontalAdd(Vector256.Load(s16), Vector256.Load(s16 + 8));
        return Avx2.Permute4x64(pairs.AsDouble(), 0b11_01_10_00).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lane(Vector256<float> v, int i) => Avx2.PermuteVar8x32(v, Vector256.Create(i));

    /// <summary>32 nibbles of a Q4_0 block in value order: low nibbles (values 0..15), then high (16..31).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles(byte* qs, Vector256<uint> shifts, Vector256<byte> m4) =>
        Avx2.ShiftRightLogicalVariable(Avx2.BroadcastVector128ToVector256(qs).AsUInt32(), shifts).AsByte() & m4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Block4_0(byte* qs, sbyte* x, Vector256<float> scale, Vector256<uint> shifts,
        Vector256<byte> m4, Vector256<float> acc) =>
        Fma.MultiplyAdd(Avx.ConvertToVector256Single(
            AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Nibbles(qs, shifts, m4), Vector256.Load(x))), scale, acc);

    /// <summary>Q4_0 row · Q8_0 activations: Σ_b dw·dx·Σ q·x − 8·Σ_b dw·(dx·Σx).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q4_0(byte* row, int nb, sbyte* xq, float* xd, float* xs16)
    {
        var shifts = Vector256.Create(0u, 0, 0, 0, 4, 4, 4, 4);
        var m4 = Vector256.Create((byte)0x0F);
        Vector256<float> acc0 = default, acc1 = default, corr = default;
        var b = 0;
        for (; b + 8 <= nb; b += 8)
        {
            var p = row + 18 * b;
            var dw = Scales8(p, 18);
            corr = Fma.MultiplyAdd(dw, BlockSums8(xs16 + 2 * b), corr);
            var s = dw * Vector256.Load(xd + b);
            var x = xq + 32 * b;
            acc0 = Block4_0(p + 2, x, Lane(s, 0), shifts, m4, acc0);
            acc1 = Block4_0(p + 20, x + 32, Lane(s, 1), shifts, m4, acc1);
            acc0 = Block4_0(p + 38, x + 64, Lane(s, 2), shifts, m4, acc0);
            acc1 = Block4_0(p + 56, x + 96, Lane(s, 3), shifts, m4, acc1);
            acc0 = Block4_0(p + 74, x + 128, Lane(s, 4), shifts, m4, acc0);
            acc1 = Block4_0(p + 92, x + 160, Lane(s, 5), shifts, m4, acc1);
            acc0 = Block4_0(p + 110, x + 192, Lane(s, 6), shifts, m4, acc0);
            acc1 = Block4_0(p + 128, x + 224, Lane(s, 7), shifts, m4, acc1);
        }
        var tail = 0f;
        for (; b < nb; b++)
        {
            var p = row + 18 * b;
            var dw = QuantDot.H2F(p);
            acc0 = Block4_0(p + 2, xq + 32 * b, Vector256.Create(dw * xd[b]), shifts, m4, acc0);
            tail += dw * (xs16[2 * b] + xs16[2 * b + 1]);
        }
        return Vector256.Sum(acc0 + acc1) - 8 * (Vector256.Sum(corr) + tail);
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
