using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Tests.Kernels;

/// <summary>
/// <see cref="ExpF.Exp8"/> against the C library's expf (<see cref="MathF.Exp"/>), bit for bit, on every 1009th float
/// from −110 to 90 (every table index and the whole range softmax uses, subnormal results included) and the special
/// values; and <see cref="ExpF.IsSupported"/> says so exactly when that holds, so the attention never uses an exp that
/// differs from the scalar one. On glibc (Debian, CI) they must agree.
/// </summary>
public sealed class ExpFTests
{
    [Fact]
    public void Exp8_IsBitIdenticalToTheCLibrarysExpf()
    {
        if (!Avx512F.IsSupported || !Avx512DQ.IsSupported) return;
        var inputs = new List<float> { 0f, -0f, 1f, -1f, 88f, -88f, 89f, -103.97f, -103.98f, -104f, float.NegativeInfinity,
            float.PositiveInfinity, float.NaN, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue };
        for (var bits = BitConverter.SingleToUInt32Bits(-110f); bits > 0x80000000u; bits -= 1009) inputs.Add(BitConverter.UInt32BitsToSingle(bits));
        for (var bits = 0u; bits < BitConverter.SingleToUInt32Bits(90f); bits += 1009) inputs.Add(BitConverter.UInt32BitsToSingle(bits));
        while (inputs.Count % 8 != 0) inputs.Add(-1f);
        var differ = new List<string>();
        var lanes = new float[8];
        for (var i = 0; i < inputs.Count; i += 8)
        {
            inputs.CopyTo(i, lanes, 0, 8);
            var got = ExpF.Exp8(Vector256.Create(lanes));
            for (var k = 0; k < 8; k++)
            {
                var want = MathF.Exp(lanes[k]);
                if (BitConverter.SingleToUInt32Bits(got[k]) != BitConverter.SingleToUInt32Bits(want) && differ.Count < 5)
                    differ.Add($"exp({lanes[k]:R}): {got[k]:R}, expf {want:R}");
            }
        }
        Assert.True(ExpF.IsSupported == (differ.Count == 0), $"IsSupported {ExpF.IsSupported}, differences: {string.Join("; ", differ)}");
        // glibc 2.28 or later (Debian 12 here and in CI) has exactly this expf: the fast path must be on there.
        if (File.Exists("/lib/x86_64-linux-gnu/libc.so.6")) Assert.True(differ.Count == 0, string.Join("; ", differ));
    }
}
