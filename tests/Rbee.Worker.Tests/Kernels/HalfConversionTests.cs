using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Tests.Kernels;

/// <summary>
/// Every fp16 → float conversion the kernels use against the library's conversion, bit for bit, on every finite half
/// (zeros of both signs and subnormals included; weights and scales hold no inf/NaN): the scales' (<see
/// cref="FastConvert.HalfBits(uint)"/>, four and eight lanes) and the weights' (<see cref="DecodeDot.Halves"/>, <see
/// cref="FastConvert.HalfToSingle"/>).
/// </summary>
public unsafe class HalfConversionTests
{
    private static void Same(int half, float got)
    {
        var want = (float)BitConverter.UInt16BitsToHalf((ushort)half);
        Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(got),
            $"half 0x{half:X4}: want {want} (0x{BitConverter.SingleToInt32Bits(want):X8}), got {got} (0x{BitConverter.SingleToInt32Bits(got):X8})");
    }

    [Fact]
    public void Scalar_EveryFiniteHalf()
    {
        for (var h = 0; h < 65536; h++)
            if (Finite(h)) Same(h, FastConvert.HalfBits((uint)h));
    }

    [Fact]
    public void Vectors_EveryFiniteHalf_ZeroOrSignExtended()
    {
        for (var h = 0; h < 65536; h += 8)
        {
            var zero = Vector256.Create(h) + Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
            var sign = (zero << 16) >> 16; // what a sign-extending load gives
            foreach (var bits in new[] { zero, sign })
            {
                var v256 = FastConvert.HalfBits(bits);
                var v128 = FastConvert.HalfBits(bits.GetLower());
                for (var i = 0; i < 8; i++)
                {
                    if (!Finite(h + i)) continue;
                    Same(h + i, v256[i]);
                    if (i < 4) Same(h + i, v128[i]);
                }
            }
        }
    }

    [Fact]
    public void WeightConversions_EveryFiniteHalf()
    {
        // The one-multiply forms for weights (FastConvert.HalfToSingle8, DecodeDot.Halves) are exact on finite halves;
        // weights hold no inf/NaN.
        var bits = new ushort[65536 + 5]; // a tail the eight-wide loop leaves to the library
        for (var i = 0; i < bits.Length; i++) bits[i] = (ushort)i;
        var got = new float[bits.Length];
        fixed (ushort* pb = bits) FastConvert.HalfToSingle(pb, got);
        for (var i = 0; i < bits.Length; i++)
            if (Finite(bits[i])) Same(bits[i], got[i]);

        if (!Avx2.IsSupported) return; // DecodeDot runs only behind AVX2
        fixed (ushort* pb = bits)
            for (var h = 0; h < 65536; h += 8)
            {
                var v = DecodeDot.Halves(Avx2.ConvertToVector256Int32((short*)pb + h));
                for (var i = 0; i < 8; i++)
                    if (Finite(h + i)) Same(h + i, v[i]);
            }
    }

    private static bool Finite(int half) => (half & 0x7C00) != 0x7C00;
}
