using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Rbee.Worker.Kernels;

/// <summary>Vectorised F16/BF16 → F32 conversion and F32 dot products (portable <see cref="Vector256"/>).</summary>
internal static unsafe class FastConvert
{
    /// <summary>fp16 weights → floats, eight at a time (<see cref="HalfToSingle8"/>), the tail by the library conversion.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void HalfToSingle(ushort* src, Span<float> dst)
    {
        var n = dst.Length;
        var i = 0;
        fixed (float* d = dst)
        {
            if (Vector256.IsHardwareAccelerated)
                for (; i + 8 <= n; i += 8)
                    Vector256.Store(HalfToSingle8(Vector128.Load(src + i)), d + i);
            for (; i < n; i++) d[i] = (float)BitConverter.UInt16BitsToHalf(src[i]);
        }
    }

    /// <summary>
    /// Eight fp16 weights → floats: the 15 magnitude bits shifted into a float's place and rebased by 2^112 in one
    /// multiply (exact for every finite half), the sign put back. For weights and cached keys and values, whose halves
    /// are rarely subnormal; scales go through <see cref="HalfBits(uint)"/> (why: <c>DecodeDot.Halves</c>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> HalfToSingle8(Vector128<ushort> h)
    {
        var w = Vector256.Create(Vector128.WidenLower(h), Vector128.WidenUpper(h));
        var mag = (w & Vector256.Create(0x7FFFu)) << 13;
        var f = mag.AsSingle() * Vector256.Create(5.192297e33f); // 2^112
        return (f.AsUInt32() | ((w & Vector256.Create(0x8000u)) << 16)).AsSingle();
    }

    // fp16 scales → float without a lookup table and without hardware conversion (.NET 10 exposes no vcvtph2ps): the 15
    // magnitude bits shifted into a float's place and the exponent rebased by adding 112 to it. A half whose exponent
    // is 0 (zero, subnormal) is rebased as if it were 2^-14·(1 + m/1024) and 2^-14 subtracted, which leaves m·2^-24
    // exactly. Every operand stays a normal float: the one-multiply form (the bits as a float times 2^112) multiplies
    // a subnormal float for every subnormal half, and on this VM's Zen 5 each such multiply takes a microcode assist.
    // Q6_K's d is a subnormal half in most rows (weights of ~0.05 give d ≈ 2.5e-5, below fp16's smallest normal
    // 6.1e-5), so the output matrix of a Q4_0 file dotted at a quarter of its speed (one thread, 64 rows cached: 100
    // against 25 ns per row of 1,024). Exact for every finite half; scales are finite (inf/NaN come out finite).
    private const uint SubnormalRebase = 0x38800000, NormalRebase = 0x38000000, SmallestNormal = 0x00800000;
    private const float TwoToMinus14 = 6.1035156e-05f;

    /// <summary>The half in the low 16 bits of <paramref name="bits"/> (bits above ignored) as a float: exact for every
    /// finite half, and no arithmetic on subnormal floats (see the notes above).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HalfBits(uint bits)
    {
        // A branch, not a select: a matrix's scales are nearly all normal (Q8_0, Q4_0) or nearly all not (Q6_K), so it
        // is predicted, and the common normal case costs one add more than the one-multiply form.
        var mag = (bits & 0x7FFF) << 13;
        var f = mag >= SmallestNormal
            ? BitConverter.UInt32BitsToSingle(mag + NormalRebase)
            : BitConverter.UInt32BitsToSingle(mag + SubnormalRebase) - TwoToMinus14;
        return BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(f) | ((bits & 0x8000) << 16));
    }

    /// <summary><see cref="HalfBits(uint)"/> for eight lanes (zero- or sign-extended halves alike).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> HalfBits(Vector256<int> bits)
    {
        var mag = (bits << 13).AsUInt32() & Vector256.Create(0x0FFFE000u);
        var small = Vector256.LessThan(mag, Vector256.Create(SmallestNormal));
        var rebased = (mag + Vector256.Create(NormalRebase) + (small & Vector256.Create(SmallestNormal))).AsSingle();
        var f = rebased - (small & Vector256.Create(SubnormalRebase)).AsSingle();
        return (f.AsInt32() | ((bits << 16) & Vector256.Create(int.MinValue))).AsSingle();
    }

    /// <summary><see cref="HalfBits(uint)"/> for four lanes (the eight-lane form's low half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> HalfBits(Vector128<int> bits) => HalfBits(bits.ToVector256()).GetLower();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BFloat16ToSingle(ushort* src, Span<float> dst)
    {
        var n = dst.Length;
        var i = 0;
        fixed (float* d = dst)
        {
            if (Vector256.IsHardwareAccelerated)
            {
                for (; i + 8 <= n; i += 8)
                {
                    var h = Vector128.Load(src + i);
                    var w = Vector256.Create(Vector128.WidenLower(h), Vector128.WidenUpper(h));
                    Vector256.Store((w << 16).AsSingle(), d + i);
                }
            }
            for (; i < n; i++) d[i] = BitConverter.Int32BitsToSingle(src[i] << 16);
        }
    }

    /// <summary>Σ a[i]·b[i] with four independent FMA chains.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(float* a, float* b, int n)
    {
        var i = 0;
        float s = 0;
        if (Vector256.IsHardwareAccelerated && n >= 32)
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 32 <= n; i += 32)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 8), Vector256.Load(b + i + 8), s1);
                s2 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 16), Vector256.Load(b + i + 16), s2);
                s3 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 24), Vector256.Load(b + i + 24), s3);
            }
            for (; i + 8 <= n; i += 8) s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
            s = Vector256.Sum((s0 + s1) + (s2 + s3));
        }
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }
}
