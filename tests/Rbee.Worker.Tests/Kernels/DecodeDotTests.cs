using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rbee.Worker.Gguf;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Tests.Kernels;

/// <summary>
/// The tuned decode kernels (<see cref="DecodeDot"/>) against the scalar reference, on block counts that are not a
/// multiple of their eight-block step (so the tail runs too), and their half→float conversion on every half.
/// </summary>
public unsafe class DecodeDotTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(13)]
    [InlineData(40)]
    public void Q4_0_MatchesScalarReference(int blocks)
    {
        if (!DecodeDot.IsSupported) return; // MatMul keeps QuantDot here; IntegerKernelTests cover it
        var cols = 32 * blocks;
        using var w = new RandomWeights(GgmlType.Q4_0, 5, cols, seed: blocks);
        var x = RandomWeights.Activations(cols, seed: blocks + 1);
        var act = new Q8Activations();
        fixed (float* px = x) act.Fill(px, cols, 1, ActivationFormat.Q8_0);
        act.FillPairs();
        var xd = act.Dequantized(0);
        var row = new float[cols];
        for (var r = 0; r < 5; r++)
        {
            Dequantize.RowScalar(GgmlType.Q4_0, w.Matrix.Row(r), row);
            double s = 0, terms = 0;
            for (var c = 0; c < cols; c++)
            {
                s += (double)row[c] * xd[c];
                terms += Math.Abs((double)row[c] * xd[c]);
            }
            var k = DecodeDot.Q4_0(w.Matrix.Row(r), blocks, act.Q, act.Pairs, act.D, act.Offsets);
            Assert.True(Math.Abs(s - k) <= 1e-5 * terms + 1e-7, $"{blocks} blocks row {r}: reference {s}, kernel {k}");
        }
    }

    [Theory]
    [InlineData(8)]
    [InlineData(13)]
    [InlineData(16)]
    [InlineData(24)]
    [InlineData(40)]
    [InlineData(88)]
    public void Q4_0x4_BothLayouts_AreEachSequencesOneSequenceDot_BitForBit(int blocks)
    {
        // Batched decode is batch-invariant: four sequences through the 256-bit kernel (plain lanes) or the 512-bit one
        // (lanes paired for it), whole groups, a last odd group and tail blocks alike, give each sequence exactly the
        // floats DecodeDot.Q4_0 gives it alone.
        if (!DecodeDot.IsSupported) return;
        var cols = 32 * blocks;
        using var w = new RandomWeights(GgmlType.Q4_0, 6, cols, seed: 100 + blocks);
        var x = RandomWeights.Activations(4 * cols, seed: 200 + blocks);
        var act = new Q8Activations();
        fixed (float* px = x) act.Fill(px, cols, 4, ActivationFormat.Q8_0);
        var alone = new float[6 * 4];
        act.FillPairs(wideLanes: false);
        for (var r = 0; r < 6; r++)
            for (var t = 0; t < 4; t++)
                alone[4 * r + t] = DecodeDot.Q4_0(w.Matrix.Row(r), blocks, act.TokenQ(t), act.Pairs + (long)t * cols, act.TokenD(t), act.Offsets + (long)t * blocks);
        var layouts = DecodeDot.IsWideSupported ? new[] { false, true } : [false];
        foreach (var wide in layouts)
        {
            act.FillPairs(wide);
            Assert.Equal(wide, act.WideLanes);
            var got = new float[6 * 4];
            fixed (float* pg = got)
                for (var r = 0; r < 6; r++)
                {
                    if (wide) DecodeDot.Q4_0x4Wide(w.Matrix.Row(r), blocks, act.Q, act.Lanes, act.D, act.Offsets, cols, pg + 4 * r, 1);
                    else DecodeDot.Q4_0x4(w.Matrix.Row(r), blocks, act.Q, act.Lanes, act.D, act.Offsets, cols, pg + 4 * r, 1);
                }
            AssertEachAsAlone(alone, got, $"{blocks} blocks, {(wide ? "wide" : "plain")} lanes");
        }
    }

    /// <summary>Four sequences' results per row (row-major, four per row), each bit for bit its one-sequence result.</summary>
    private static void AssertEachAsAlone(float[] alone, float[] batched, string what)
    {
        for (var i = 0; i < batched.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(alone[i]) == BitConverter.SingleToInt32Bits(batched[i]),
                $"{what}, row {i / 4} sequence {i % 4}: alone {alone[i]}, batched {batched[i]}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(11)]
    public void Q6_Kx4_BothWidths_AreEachSequencesOneSequenceDot_BitForBit(int superBlocks)
    {
        if (!DecodeDot.IsSupported) return;
        var cols = 256 * superBlocks;
        using var w = new RandomWeights(GgmlType.Q6_K, 6, cols, seed: 300 + superBlocks);
        var x = RandomWeights.Activations(4 * cols, seed: 400 + superBlocks);
        var act = new Q8Activations();
        fixed (float* px = x) act.Fill(px, cols, 4, ActivationFormat.Q8_K);
        var alone = new float[6 * 4];
        for (var r = 0; r < 6; r++)
            for (var t = 0; t < 4; t++)
                alone[4 * r + t] = DecodeDot.Q6_K(w.Matrix.Row(r), superBlocks, act.TokenQ(t), act.TokenD(t), act.IntSum16 + (long)t * (cols / 16));
        var widths = DecodeDot.IsWideSupported ? new[] { false, true } : [false];
        foreach (var wide in widths)
        {
            var got = new float[6 * 4];
            fixed (float* pg = got)
                for (var r = 0; r < 6; r++)
                {
                    if (wide) DecodeDot.Q6_Kx4Wide(w.Matrix.Row(r), superBlocks, act.Q, act.D, act.IntSum16, cols, pg + 4 * r, 1);
                    else DecodeDot.Q6_Kx4(w.Matrix.Row(r), superBlocks, act.Q, act.D, act.IntSum16, cols, pg + 4 * r, 1);
                }
            AssertEachAsAlone(alone, got, $"{superBlocks} super-blocks, {(wide ? "512" : "256")}-bit");
        }
    }

    [Theory]
    [InlineData(13, 1)]
    [InlineData(13, 3)]
    [InlineData(24, 5)]
    public void Q4_0_MatMat_OddBlockCounts_MatchReference(int blocks, int tokens)
    {
        // Each token's interleaved activations start at its own first block, also when a token has an odd number
        // of blocks; n = 5 runs four tokens in the prefill kernel and the fifth through the decode dot.
        var cols = 32 * blocks;
        using var w = new RandomWeights(GgmlType.Q4_0, 11, cols, seed: blocks * tokens);
        var x = RandomWeights.Activations(tokens * cols, seed: tokens);
        var got = new float[tokens * 11];
        using (var pool = new ComputePool(2)) MatMul.MatMat(w.Matrix, x, tokens, got, pool, intPath: true);
        var act = new Q8Activations();
        fixed (float* px = x) act.Fill(px, cols, tokens, ActivationFormat.Q8_0);
        var row = new float[cols];
        for (var t = 0; t < tokens; t++)
        {
            var xd = act.Dequantized(t);
            for (var r = 0; r < 11; r++)
            {
                Dequantize.RowScalar(GgmlType.Q4_0, w.Matrix.Row(r), row);
                double s = 0, terms = 0;
                for (var c = 0; c < cols; c++)
                {
                    s += (double)row[c] * xd[c];
                    terms += Math.Abs((double)row[c] * xd[c]);
                }
                var k = got[t * 11 + r];
                Assert.True(Math.Abs(s - k) <= 1e-5 * terms + 1e-7, $"{blocks} blocks token {t} row {r}: reference {s}, kernel {k}");
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(31)]
    [InlineData(40)]
    [InlineData(1027)]
    public void F16_MatchesScalarReference(int n)
    {
        if (!(Avx2.IsSupported && Fma.IsSupported)) return;
        using var w = new RandomWeights(GgmlType.F16, 3, n, seed: n);
        var x = RandomWeights.Activations(n, seed: n + 1);
        var row = new float[n];
        for (var r = 0; r < 3; r++)
        {
            var p = (Half*)w.Matrix.Row(r);
            if (r == 1) for (var c = 0; c < n; c += 5) p[c] = BitConverter.UInt16BitsToHalf((ushort)(0x8000 | c % 1024)); // negative subnormals
            Dequantize.RowScalar(GgmlType.F16, (byte*)p, row);
            double s = 0, terms = 0;
            for (var c = 0; c < n; c++)
            {
                s += (double)row[c] * x[c];
                terms += Math.Abs((double)row[c] * x[c]);
            }
            float k;
            fixed (float* px = x) k = DecodeDot.F16((byte*)p, px, n);
            Assert.True(Math.Abs(s - k) <= 1e-5 * terms + 1e-7, $"{n} values row {r}: reference {s}, kernel {k}");
        }
    }

    [Fact]
    public void Sums4_IsVector256SumOfEach_BitForBit()
    {
        // The batched kernels end each row with Sums4 where the one-sequence kernels call Vector256.Sum: float addition
        // is not associative, so any other grouping would break batch invariance. Magnitudes spread over 2^±40 make a
        // regrouping show within a few draws; signed zeros check that -0 sums stay -0.
        if (!Avx.IsSupported) return;
        var rng = new Random(4);
        float Draw() => rng.Next(16) == 0 ? (rng.Next(2) == 0 ? 0f : -0f) : (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-40, 40)));
        for (var i = 0; i < 20_000; i++)
        {
            var v = new Vector256<float>[4];
            for (var k = 0; k < 4; k++) v[k] = Vector256.Create(Draw(), Draw(), Draw(), Draw(), Draw(), Draw(), Draw(), Draw());
            if (i == 0) v[3] = Vector256.Create(-0f);
            var sums = DecodeDot.Sums4(v[0], v[1], v[2], v[3]);
            for (var k = 0; k < 4; k++)
                Assert.Equal(BitConverter.SingleToInt32Bits(Vector256.Sum(v[k])), BitConverter.SingleToInt32Bits(sums.GetElement(k)));
        }
    }
}
