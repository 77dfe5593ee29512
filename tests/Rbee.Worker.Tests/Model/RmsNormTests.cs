using Rbee.Worker.Model;

namespace Rbee.Worker.Tests.Model;

/// <summary>A prompt step's or a batch's norms, four rows at a time, must be each row's own norm bit for bit, and a
/// row's norm ggml_rms_norm's: the squares summed in double in order, then x · scale · w.</summary>
public sealed class RmsNormTests
{
    [Theory]
    [InlineData(3)]
    [InlineData(64)]
    [InlineData(1027)] // a tail past the last four
    public void RmsNorm_IsTheSequentialDoubleSum_BitForBit(int n)
    {
        var rng = new Random(n);
        var x = new float[n];
        for (var i = 0; i < n; i++) x[i] = (rng.NextSingle() * 2 - 1) * MathF.Pow(2, rng.Next(-20, 20));
        var w = new float[n];
        for (var i = 0; i < n; i++) w[i] = rng.NextSingle() + 0.5f;
        var actual = new float[n];
        VectorOps.RmsNorm(x, w, 1e-5f, actual);

        double sum = 0;
        for (var i = 0; i < n; i++) sum += (double)x[i] * x[i];
        var scale = 1f / MathF.Sqrt((float)(sum / n) + 1e-5f);
        for (var i = 0; i < n; i++)
        {
            var expected = x[i] * scale * w[i];
            Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual[i]),
                $"value {i}: expected {expected:R}, got {actual[i]:R}");
        }
    }

    [Theory]
    [InlineData(1, 64)]
    [InlineData(4, 1024)]
    [InlineData(7, 96)]   // four together, then three alone
    [InlineData(130, 40)]
    [InlineData(5, 1027)] // each row's tail past its last four values
    public void RmsNormRows_IsEachRowsRmsNorm_BitForBit(int rows, int n)
    {
        var rng = new Random(rows * 1000 + n);
        var x = new float[rows * n + 5];
        for (var i = 0; i < x.Length; i++) x[i] = (rng.NextSingle() * 2 - 1) * MathF.Pow(2, rng.Next(-8, 8));
        var w = new float[n];
        for (var i = 0; i < n; i++) w[i] = rng.NextSingle() + 0.5f;
        var together = new float[rows * n + 5];
        VectorOps.RmsNormRows(x, w, 1e-5f, together, rows, n);
        var alone = new float[n];
        for (var r = 0; r < rows; r++)
        {
            VectorOps.RmsNorm(x.AsSpan(r * n, n), w, 1e-5f, alone);
            for (var i = 0; i < n; i++)
                Assert.True(BitConverter.SingleToInt32Bits(alone[i]) == BitConverter.SingleToInt32Bits(together[r * n + i]),
                    $"row {r}, value {i}: alone {alone[i]:R}, four at a time {together[r * n + i]:R}");
        }
        Assert.Equal(0f, together[rows * n]); // nothing past the rows is written
    }
}
