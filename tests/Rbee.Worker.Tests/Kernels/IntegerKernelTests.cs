using Rbee.Worker.Gguf;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Tests.Kernels;

/// <summary>
/// The SIMD integer kernels against their scalar reference with the same inputs: decoded weights times the decoded
/// 8-bit activations, summed in double. Only float rounding separates the two, so the bound is tight (1e-5 of
/// Σ|terms|); a wrong lane, scale or offset is off by whole terms.
/// </summary>
public unsafe class IntegerKernelTests
{
    public static TheoryData<GgmlType> IntTypes() => [GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K];

    [Theory]
    [MemberData(nameof(IntTypes))]
    public void IntegerDot_MatchesScalarReferenceOnQuantizedActivations(GgmlType type)
    {
        if (!QuantDot.IsSupported) return; // no integer path on this CPU: MatMul uses the decode path, tested below
        // n = 1 is decode (one token per row); n = 6 and 9 run the four-token prefill kernels plus the remainder.
        foreach (var (rows, cols, n) in new[] { (3, 256, 1), (17, 768, 1), (9, 2816, 1), (4, 4096, 1), (13, 512, 6), (7, 768, 9) })
        {
            using var w = new RandomWeights(type, rows, cols, seed: 100 + rows + cols);
            var x = RandomWeights.Activations(n * cols, seed: cols);
            var got = new float[n * rows];
            using (var pool = new ComputePool(3)) MatMul.MatMat(w.Matrix, x, n, got, pool, intPath: true);

            var act = new Q8Activations();
            var format = type is GgmlType.Q8_0 or GgmlType.Q4_0 ? ActivationFormat.Q8_0 : ActivationFormat.Q8_K;
            fixed (float* px = x) act.Fill(px, cols, n, format);
            var row = new float[cols];
            for (var t = 0; t < n; t++)
            {
                var xd = act.Dequantized(t);
                for (var r = 0; r < rows; r++)
                {
                    Dequantize.RowScalar(type, w.Matrix.Row(r), row);
                    double s = 0, terms = 0;
                    for (var c = 0; c < cols; c++)
                    {
                        s += (double)row[c] * xd[c];
                        terms += Math.Abs((double)row[c] * xd[c]);
                    }
                    var k = got[t * rows + r];
                    Assert.True(Math.Abs(s - k) <= 1e-5 * terms + 1e-7, $"{type} {rows}x{cols}·{n} token {t} row {r}: reference {s}, kernel {k}");
                }
            }
        }
    }

    [Fact]
    public void ActivationQuantization_SimdMatchesScalarBlock()
    {
        var x = RandomWeights.Activations(32 * 40, seed: 5);
        x[3] = 0;
        for (var i = 64; i < 96; i++) x[i] = 0; // an all-zero block
        var act = new Q8Activations();
        fixed (float* px = x) act.Fill(px, x.Length, 1, ActivationFormat.Q8_0);
        var q = new sbyte[32];
        float d, s0, s1;
        var s16 = new float[2];
        for (var b = 0; b < 40; b++)
        {
            fixed (float* px = x)
            fixed (sbyte* pq = q)
            fixed (float* ps = s16)
                Q8Activations.ScalarBlock(px + 32 * b, pq, &d, ps);
            s0 = s16[0];
            s1 = s16[1];
            Assert.Equal(d, act.D[b]);
            Assert.Equal(s0, act.Sum16[2 * b]);
            Assert.Equal(s1, act.Sum16[2 * b + 1]);
            for (var i = 0; i < 32; i++) Assert.Equal(q[i], act.Q[32 * b + i]);
        }
    }

    /// <summary>The block scale's fp16 round trip against the library conversion: every 997th non-negative float
    /// (normal, subnormal for fp16, past its range), and the edges: zero, fp16's smallest subnormal and its halfway
    /// points, its largest value and the overflow tie, infinity.</summary>
    [Fact]
    public void ScaleRoundTrip_EqualsHalfConversion()
    {
        var edges = new[] { 0f, float.Epsilon, 2.98e-8f, 5.96e-8f, 8.94e-8f, 6.1035156e-5f, 6.1e-5f, 1f, 1.0004883f, 1.0009766f,
            65504f, 65519.996f, 65520f, 65536f, 1e30f, float.MaxValue, float.PositiveInfinity };
        foreach (var x in edges) Check(x);
        for (var bits = 0u; bits < 0x7F800000u; bits += 997) Check(BitConverter.UInt32BitsToSingle(bits));

        static void Check(float x)
        {
            var want = (float)(Half)x;
            var got = Q8Activations.RoundTripHalf(x);
            if (BitConverter.SingleToInt32Bits(want) != BitConverter.SingleToInt32Bits(got))
                Assert.Fail($"{x:R} (0x{BitConverter.SingleToInt32Bits(x):X8}): conversion {want:R}, round trip {got:R}");
        }
    }

    /// <summary>
    /// The exact integer sums the Q4_0 and Q6_K decode kernels take their offsets from: <see cref="Q8Activations.Offsets"/>
    /// is 8·Σq per 32-block (whole groups of eight blocks and the blocks past them), <see cref="Q8Activations.IntSum16"/>
    /// Σq per 16 values, each summed here from the quantized bytes themselves.
    /// </summary>
    [SkippableTheory]
    [InlineData(false, 32 * 13, 3)]
    [InlineData(false, 32 * 16, 2)]
    [InlineData(true, 256 * 3, 4)]
    public void IntegerSums_AreTheQuantizedValuesSums(bool superBlocks, int cols, int n)
    {
        var format = superBlocks ? ActivationFormat.Q8_K : ActivationFormat.Q8_0;
        var x = RandomWeights.Activations(n * cols, seed: cols + n);
        // The largest magnitudes a block can sum to, so no sum can pass for another by wrapping.
        for (var i = 0; i < 64; i++) x[i] = 9f;
        var a = new Q8Activations();
        fixed (float* px = x) a.Fill(px, cols, n, format);
        if (format == ActivationFormat.Q8_0)
        {
            Skip.IfNot(DecodeDot.IsSupported, "Offsets are filled for the AVX-VNNI decode kernels only");
            a.FillPairs();
            for (var b = 0; b < n * cols / 32; b++)
            {
                var sum = 0;
                for (var i = 0; i < 32; i++) sum += a.Q[32 * b + i];
                Assert.True(8 * sum == a.Offsets[b], $"block {b}: 8·Σq = {8 * sum}, Offsets {a.Offsets[b]}");
            }
        }
        else
            for (var g = 0; g < n * cols / 16; g++)
            {
                var sum = 0;
                for (var i = 0; i < 16; i++) sum += a.Q[16 * g + i];
                Assert.True(sum == a.IntSum16[g], $"group {g}: Σq = {sum}, IntSum16 {a.IntSum16[g]}");
            }
    }

    /// <summary>A prompt step's activations, quantized and tiled by several threads, are byte for byte one thread's.</summary>
    [Theory]
    [InlineData(false, 77)]
    [InlineData(true, 130)]
    public void ActivationQuantization_SplitOverThreads_IsByteForByteOneThreads(bool superBlocks, int n)
    {
        var format = superBlocks ? ActivationFormat.Q8_K : ActivationFormat.Q8_0;
        const int cols = 512;
        var x = RandomWeights.Activations(n * cols, seed: n);
        byte[] Quantized(int threads)
        {
            using var pool = new ComputePool(threads);
            var a = new Q8Activations();
            fixed (float* px = x) a.Fill(px, cols, n, format, pool: pool);
            a.FillTiles(pool);
            var tiled = (n + Q8Activations.TileTokens - 1) / Q8Activations.TileTokens * Q8Activations.TileTokens * cols;
            return [.. new Span<byte>(a.Q, n * cols), .. new Span<byte>(a.D, n * cols / 32 * 4), .. new Span<byte>(a.Sum16, n * cols / 16 * 4),
                .. new Span<byte>(a.Tiles, tiled), .. new Span<byte>(a.TileD, tiled / 32 * 4), .. new Span<byte>(a.TileSum32, tiled / 32 * 4)];
        }
        Assert.Equal(Quantized(1), Quantized(3));
    }

    [Theory]
    [MemberData(nameof(MatMulTests.AllTypes), MemberType = typeof(MatMulTests))]
    public void PortableDecodePath_MatchesReference(GgmlType type)
    {
        using var w = new RandomWeights(type, 45, 512, seed: 9);
        var x = RandomWeights.Activations(3 * 512, seed: 10);
        var want = new float[3 * 45];
        var got = new float[3 * 45];
        MatMulReference.MatMat(w.Matrix, x, 3, want);
        using (var pool = new ComputePool(2)) MatMul.MatMat(w.Matrix, x, 3, got, pool, intPath: false);
        for (var i = 0; i < want.Length; i++) Assert.True(Math.Abs(want[i] - got[i]) <= 1e-4 * (1 + Math.Abs(want[i])), $"{type} [{i}] {want[i]} vs {got[i]}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void EveryThreadCount_GivesTheSameResult(int threads)
    {
        using var w = new RandomWeights(GgmlType.Q4_K, 101, 512, seed: 11);
        var x = RandomWeights.Activations(5 * 512, seed: 12);
        var one = new float[5 * 101];
        var many = new float[5 * 101];
        using (var p1 = new ComputePool(1)) MatMul.MatMat(w.Matrix, x, 5, one, p1, intPath: true);
        using (var pn = new ComputePool(threads))
        {
            for (var repeat = 0; repeat < 50; repeat++)
            {
                Array.Clear(many);
                MatMul.MatMat(w.Matrix, x, 5, many, pn, intPath: true);
                Assert.Equal(one, many);
            }
        }
    }
}
