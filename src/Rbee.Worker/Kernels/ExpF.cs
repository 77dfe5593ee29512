using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rbee.Worker.Kernels;

/// <summary>
/// expf for eight floats at once, bit for bit the C library's scalar <c>expf</c> that <see cref="MathF.Exp"/> calls on
/// glibc (2.28 and later: 2^(k/32) from a 32-entry table times a cubic in double precision, the method of Arm's
/// optimized-routines; on x86-64 with FMA the library runs its FMA build, whose three multiply-adds are fused). The
/// attention softmax uses it instead of one scalar call per position and head, and stays bit for bit what llama.cpp's
/// CPU flash attention computes with expf. <see cref="IsSupported"/> is false where this was not verified (no
/// AVX-512, or a C library whose expf differs, which <see cref="Matches"/> checks at start-up on a spread of inputs);
/// callers then use <see cref="MathF.Exp"/>.
/// </summary>
internal static class ExpF
{
    private const int TableBits = 5;
    private const int N = 1 << TableBits;

    /// <summary>bits(2^(i/32)) − i·2^47: adding k·2^47 for k = 32·e + i gives the double 2^(k/32).</summary>
    private static readonly ulong[] Table = BuildTable();

    // The C code's constants (hex floats there): N/ln 2 and the cubic's coefficients, scaled by 1/N per power.
    private static readonly double InvLn2N = BitConverter.UInt64BitsToDouble(0x3FF71547652B82FE) * N; // 0x1.71547652b82fep+0
    private static readonly double C0 = BitConverter.UInt64BitsToDouble(0x3FAC6AF84B912394) / N / N / N; // 0x1.c6af84b912394p-5
    private static readonly double C1 = BitConverter.UInt64BitsToDouble(0x3FCEBFCE50FAC4F3) / N / N; // 0x1.ebfce50fac4f3p-3
    private static readonly double C2 = BitConverter.UInt64BitsToDouble(0x3FE62E42FF0C52D6) / N; // 0x1.62e42ff0c52d6p-1

    /// <summary>Below this every expf is 0 (glibc's underflow bound, −0x1.9fe368p6); −∞ included.</summary>
    private static readonly float Underflow = BitConverter.UInt32BitsToSingle(0xC2CFF1B4);

    /// <summary>Above this expf overflows to +∞ (0x1.62e42ep6).</summary>
    private static readonly float Overflow = BitConverter.UInt32BitsToSingle(0x42B17217);

    public static bool IsSupported { get; } = Avx512F.IsSupported && Avx512DQ.IsSupported && Matches();

    /// <summary>expf of each lane (see the class summary; only where <see cref="IsSupported"/>).</summary>
    public static Vector256<float> Exp8(Vector256<float> x) => Lanes8.Load().Exp(x);

    /// <summary>
    /// <see cref="Exp8"/> with its table and constants in registers: a loop that takes exponentials loads this once
    /// (<see cref="Load"/>) and calls <see cref="Exp"/>, inlined, per eight values, instead of a call per eight that
    /// reloads the table and spills the loop's vectors around it.
    /// </summary>
    internal readonly struct Lanes8
    {
        private readonly Vector512<long> _t0, _t1, _t2, _t3;
        private readonly Vector512<double> _invLn2N, _c0, _c1, _c2;
        private readonly Vector256<float> _overflow, _underflow;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private Lanes8(ulong[] table)
        {
            ref var t = ref Unsafe.As<ulong, long>(ref MemoryMarshal.GetArrayDataReference(table));
            _t0 = Vector512.LoadUnsafe(ref t);
            _t1 = Vector512.LoadUnsafe(ref t, 8);
            _t2 = Vector512.LoadUnsafe(ref t, 16);
            _t3 = Vector512.LoadUnsafe(ref t, 24);
            _invLn2N = Vector512.Create(InvLn2N);
            _c0 = Vector512.Create(C0);
            _c1 = Vector512.Create(C1);
            _c2 = Vector512.Create(C2);
            _overflow = Vector256.Create(Overflow);
            _underflow = Vector256.Create(Underflow);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Lanes8 Load() => new(Table);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Exp(Vector256<float> x)
        {
            var xd = Avx512F.ConvertToVector512Double(x);
            var z = xd * _invLn2N;
            var kd = Avx512F.RoundScale(z, 0); // nearest, ties to even: z + 0x1.8p52 − 0x1.8p52 in the C code
            var r = z - kd;
            var ki = Avx512DQ.ConvertToVector512Int64(kd);
            // Two-table permutes pick entry (index mod 16) of [t0, t1] and of [t2, t3]; bit 4 chooses between them.
            var index = ki & Vector512.Create(31L);
            var entry = Vector512.ConditionalSelect(
                Vector512.Equals(index & Vector512.Create(16L), Vector512<long>.Zero),
                Avx512F.PermuteVar8x64x2(_t0, index, _t1),
                Avx512F.PermuteVar8x64x2(_t2, index, _t3));
            var s = (entry + (ki << (52 - TableBits))).AsDouble();
            var p = Vector512.FusedMultiplyAdd(_c0, r, _c1);
            var r2 = r * r;
            var y = Vector512.FusedMultiplyAdd(_c2, r, Vector512.Create(1.0));
            y = Vector512.FusedMultiplyAdd(p, r2, y);
            y *= s;
            var result = Avx512F.ConvertToVector256Single(y);
            // The C code's special cases: NaN and ±∞ give x + x (−∞ gives 0 below), overflow +∞, underflow 0.
            result = Vector256.ConditionalSelect(Vector256.GreaterThan(x, _overflow), Vector256.Create(float.PositiveInfinity), result);
            result = Vector256.ConditionalSelect(Vector256.LessThan(x, _underflow), Vector256<float>.Zero, result);
            return Vector256.ConditionalSelect(Vector256.Equals(x, x), result, x + x);
        }
    }

    /// <summary>
    /// Compares <see cref="Exp8"/> with <see cref="MathF.Exp"/> on every 16411th float from −110 to 90 and on the edge
    /// cases; any difference means this C library's expf is not the one reproduced here. About 20 ms, once per
    /// process, in the worker's warm-up (the unit tests check a far denser spread).
    /// </summary>
    private static bool Matches()
    {
        Span<float> lanes = stackalloc float[8];
        var edge = new[] { 0f, -0f, 1f, -1f, 88f, -88f, 88.72f, 89f, -103.9f, -103.98f, -104f, -1e-30f, 1e-30f,
            float.NegativeInfinity, float.PositiveInfinity, float.NaN, float.Epsilon, -float.Epsilon, Underflow, Overflow };
        var i = 0;
        foreach (var v in edge)
        {
            lanes[i++ % 8] = v;
            if (i % 8 == 0 && !Same(lanes)) return false;
        }
        for (var bits = BitConverter.SingleToUInt32Bits(-110f); bits > 0x80000000u; bits -= 16411)
        {
            lanes[i++ % 8] = BitConverter.UInt32BitsToSingle(bits);
            if (i % 8 == 0 && !Same(lanes)) return false;
        }
        for (var bits = 0u; bits < BitConverter.SingleToUInt32Bits(90f); bits += 16411)
        {
            lanes[i++ % 8] = BitConverter.UInt32BitsToSingle(bits);
            if (i % 8 == 0 && !Same(lanes)) return false;
        }
        return true;

        static bool Same(Span<float> lanes)
        {
            var got = Exp8(Vector256.Create((ReadOnlySpan<float>)lanes));
            for (var k = 0; k < 8; k++)
                if (BitConverter.SingleToUInt32Bits(got[k]) != BitConverter.SingleToUInt32Bits(MathF.Exp(lanes[k]))) return false;
            return true;
        }
    }

    /// <summary>The table, from exact integer arithmetic: 2^(i/32) rounded to nearest double.</summary>
    private static ulong[] BuildTable()
    {
        var table = new ulong[N];
        for (var i = 0; i < N; i++)
        {
            // floor(2^(i/32) · 2^54) = the integer 32nd root of 2^(54·32 + i); the mantissa is that rounded at 2^2.
            var f = IntegerRoot(BigInteger.One << (54 * N + i), N);
            var mantissa = (ulong)((f + 2) >> 2); // 2^(i/32) is irrational for i > 0, so never a tie
            var bits = mantissa == 1UL << 53 ? 0x4000000000000000UL : (0x3FFUL << 52) | (mantissa & ((1UL << 52) - 1));
            table[i] = bits - ((ulong)i << (52 - TableBits));
        }
        return table;
    }

    /// <summary>floor(n^(1/k)) by Newton's method on integers.</summary>
    private static BigInteger IntegerRoot(BigInteger n, int k)
    {
        var x = BigInteger.One << (int)((n.GetBitLength() + k - 1) / k); // ≥ the root
        while (true)
        {
            var y = ((k - 1) * x + n / BigInteger.Pow(x, k - 1)) / k;
            if (y >= x) return x;
            x = y;
        }
    }
}
