using System.Runtime.Intrinsics.X86;
using Rbee.Worker.Gguf;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Tests.Kernels;

/// <summary>
/// The prefill panels and tiles (<see cref="PanelGemm"/>) against the scalar reference, at row counts that leave short
/// panels (1, 3, 5, 7, 9, 17, 37 rows against integer panels of 8 and F16 panels of 4) and token counts 1..17 (integer
/// tiles of 8 tokens and F16 tiles of 2, plus short tails), on the AVX-VNNI dot and the AVX2 fallback. The integer kernels are held to the reference evaluated on the
/// quantized activations' own values, so only float rounding separates them: a wrong scale, offset, nibble order
/// or lane is off by whole terms, far beyond the 1e-4 bound.
/// </summary>
public sealed unsafe class PanelGemmTests
{
    public static TheoryData<GgmlType, bool> Int8Cases()
    {
        var data = new TheoryData<GgmlType, bool>();
        foreach (var type in new[] { GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K })
            foreach (var vnni in new[] { true, false })
                if (PanelGemm.Handles(type, vnni, 256)) data.Add(type, vnni);
        return data;
    }

    private static readonly (int Rows, int Cols)[] Shapes = [(1, 256), (3, 512), (5, 256), (7, 1024), (8, 256), (9, 256), (17, 512), (37, 512)];

    [Theory]
    [MemberData(nameof(Int8Cases))]
    public void Int8Panels_MatchReferenceOnQuantizedActivations(GgmlType type, bool vnni)
    {
        if (!QuantDot.IsSupported || (vnni && !AvxVnni.IsSupported)) return;
        var format = type is GgmlType.Q8_0 or GgmlType.Q4_0 ? ActivationFormat.Q8_0 : ActivationFormat.Q8_K;
        // Q8_0 and Q4_0 rows may be any number of 32-blocks: 96 columns is an odd count.
        foreach (var (rows, cols) in type is GgmlType.Q8_0 or GgmlType.Q4_0 ? Shapes.Append((9, 96)) : Shapes)
        {
            using var w = new RandomWeights(type, rows, cols, seed: rows * 131 + cols);
            for (var n = 1; n <= 17; n++)
            {
                var x = RandomWeights.Activations(n * cols, seed: n * 7 + rows);
                var act = new Q8Activations();
                fixed (float* px = x) act.Fill(px, cols, n, format);
                act.FillTiles();
                var xq = new float[n * cols];
                for (var t = 0; t < n; t++) act.Dequantized(t).CopyTo(xq, t * cols);
                var want = new float[n * rows];
                MatMulReference.MatMat(w.Matrix, xq, n, want);

                var got = new float[n * rows];
                fixed (float* py = got) PanelGemm.Int8(w.Matrix, 0, rows, n, act.Tiles, act.TileD, act.TileSum32, py, vnni);
                AssertClose(want, got, MatMulTests.AbsTerms(w.Matrix, xq, n), 1e-4, $"{type} {(vnni ? "VNNI" : "AVX2")} {rows}x{cols}, {n} tokens");
            }
        }
    }

    [Fact]
    public void F16Panels_MatchReference()
    {
        if (!QuantDot.IsSupported) return;
        // 1000 columns: a tail past the last multiple of eight.
        foreach (var (rows, cols) in Shapes.Append((6, 1000)))
        {
            using var w = new RandomWeights(GgmlType.F16, rows, cols, seed: rows * 17 + cols);
            for (var n = 1; n <= 5; n++)
            {
                var x = RandomWeights.Activations(n * cols, seed: n * 5 + rows);
                var want = new float[n * rows];
                MatMulReference.MatMat(w.Matrix, x, n, want);
                var got = new float[n * rows];
                fixed (float* px = x)
                fixed (float* py = got)
                    PanelGemm.F16(w.Matrix, 0, rows, n, px, py);
                AssertClose(want, got, MatMulTests.AbsTerms(w.Matrix, x, n), 1e-5, $"F16 {rows}x{cols}, {n} tokens");
            }
        }
    }

    /// <summary>Rows in the middle of a matrix: a panel starting past row 0 writes its rows and no others.</summary>
    [Fact]
    public void Int8Panels_WriteOnlyTheirRows()
    {
        if (!QuantDot.IsSupported) return;
        const int rows = 15, cols = 256, n = 11;
        using var w = new RandomWeights(GgmlType.Q4_K, rows, cols, seed: 3);
        var x = RandomWeights.Activations(n * cols, seed: 4);
        var act = new Q8Activations();
        fixed (float* px = x) act.Fill(px, cols, n, ActivationFormat.Q8_K);
        act.FillTiles();
        var got = new float[n * rows];
        Array.Fill(got, float.NaN);
        fixed (float* py = got) PanelGemm.Int8(w.Matrix, 2, 13, n, act.Tiles, act.TileD, act.TileSum32, py, AvxVnni.IsSupported);
        for (var t = 0; t < n; t++)
            for (var r = 0; r < rows; r++)
                Assert.True(r is >= 2 and < 13 ? float.IsFinite(got[t * rows + r]) : float.IsNaN(got[t * rows + r]), $"token {t}, row {r}: {got[t * rows + r]}");
    }

    private static void AssertClose(float[] want, float[] got, float[] terms, double tolerance, string what)
    {
        for (var i = 0; i < want.Length; i++)
        {
            var bound = tolerance * terms[i] + 1e-6;
            Assert.True(Math.Abs(want[i] - got[i]) <= bound, $"{what}, y[{i}]: reference {want[i]}, kernel {got[i]}, allowed ±{bound}");
        }
    }
}
