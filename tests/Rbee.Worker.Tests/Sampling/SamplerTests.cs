using Rbee.Worker.Sampling;

namespace Rbee.Worker.Tests.Sampling;

public sealed class SamplerTests
{
    private static readonly float[] Logits = [0.1f, 2.0f, -1.0f, 1.5f, 0.3f, 1.9f, -3f, 0.0f];

    [Fact]
    public void Greedy_PicksArgMax()
    {
        var s = new Sampler(Logits.Length);
        s.Reset(new SamplingParameters { Temperature = 0 });
        Assert.Equal(1, s.Sample(Logits, []));
    }

    [Fact]
    public void Greedy_IsTheFirstStrictlyGreatest_AsTheScalarRule_ForTiesNaNsAndSignedZeros()
    {
        // The rule of llama.cpp's greedy sampler, one value at a time.
        static int Reference(float[] v)
        {
            var best = 0;
            for (var i = 1; i < v.Length; i++)
                if (v[i] > v[best]) best = i;
            return best;
        }
        float[] pool = [float.NegativeInfinity, -1f, -0f, 0f, 1f, 2f, float.NaN, float.PositiveInfinity];
        var rng = new Random(7);
        for (var round = 0; round < 3000; round++)
        {
            var length = round < 2000 ? 1 + rng.Next(80) : 1000 + rng.Next(2000);
            var ties = rng.Next(2) == 0;
            var v = new float[length];
            for (var i = 0; i < length; i++) v[i] = ties ? pool[rng.Next(pool.Length)] : (float)(rng.NextDouble() * 20 - 10);
            var s = new Sampler(length);
            s.Reset(new SamplingParameters { Temperature = 0 });
            Assert.True(Reference(v) == s.Sample(v, []), $"round {round}: [{string.Join(", ", v)}]");
        }
    }

    [Fact]
    public void SameSeed_GivesSameSequence_DifferentSeedDiffers()
    {
        int[] Run(ulong seed)
        {
            var s = new Sampler(Logits.Length);
            s.Reset(new SamplingParameters { Temperature = 5f, TopK = 0, TopP = 1, MinP = 0, Seed = seed });
            return Enumerable.Range(0, 64).Select(_ => s.Sample(Logits, [])).ToArray();
        }
        Assert.Equal(Run(42), Run(42));
        Assert.NotEqual(Run(42), Run(43));
    }

    [Fact]
    public void TopK_RestrictsToTheKBest()
    {
        var seen = Draw(new SamplingParameters { Temperature = 100f, TopK = 3, TopP = 1, MinP = 0, Seed = 1 });
        Assert.Equal(new[] { 1, 3, 5 }, seen.Order());
    }

    [Fact]
    public void TopP_KeepsSmallestSetReachingP()
    {
        // Two tokens hold almost all probability; p = 0.5 keeps only the top one.
        float[] logits = [10f, 9.9f, 0f, 0f];
        var seen = Draw(new SamplingParameters { Temperature = 1f, TopK = 0, TopP = 0.5f, MinP = 0, Seed = 3 }, logits);
        Assert.Equal(new[] { 0 }, seen);
        var seenBoth = Draw(new SamplingParameters { Temperature = 1f, TopK = 0, TopP = 0.9f, MinP = 0, Seed = 3 }, logits);
        Assert.Equal(new[] { 0, 1 }, seenBoth.Order());
    }

    [Fact]
    public void MinP_DropsTokensBelowFractionOfTop()
    {
        // exp(-1) = 0.37 relative to the top: kept at min_p 0.3, dropped at 0.5; exp(-5) always dropped.
        float[] logits = [5f, 4f, 0f];
        Assert.Equal(new[] { 0, 1 }, Draw(new SamplingParameters { Temperature = 1f, TopK = 0, TopP = 1, MinP = 0.3f, Seed = 9 }, logits).Order());
        Assert.Equal(new[] { 0 }, Draw(new SamplingParameters { Temperature = 1f, TopK = 0, TopP = 1, MinP = 0.5f, Seed = 9 }, logits));
    }

    [Fact]
    public void RepeatPenalty_DividesPositiveAndMultipliesNegativeLogits()
    {
        var s = new Sampler(4);
        float[] work = [2f, -2f, 2f, -2f];
        s.ApplyPenalties(work, [0, 1, 0], new SamplingParameters { RepeatPenalty = 2f, RepeatLastN = 64 });
        Assert.Equal(new[] { 1f, -4f, 2f, -2f }, work);
    }

    [Fact]
    public void FrequencyAndPresencePenalties_SubtractPerOccurrenceAndOnce()
    {
        var s = new Sampler(4);
        float[] work = [1f, 1f, 1f, 1f];
        s.ApplyPenalties(work, [0, 0, 0, 2], new SamplingParameters { FrequencyPenalty = 0.5f, PresencePenalty = 0.25f, RepeatLastN = 64 });
        Assert.Equal(new[] { 1f - 1.5f - 0.25f, 1f, 1f - 0.5f - 0.25f, 1f }, work);
    }

    [Fact]
    public void Penalties_LookOnlyAtTheLastNTokens()
    {
        var s = new Sampler(4);
        float[] work = [1f, 1f, 1f, 1f];
        s.ApplyPenalties(work, [0, 1, 2], new SamplingParameters { PresencePenalty = 1f, RepeatLastN = 2 });
        Assert.Equal(new[] { 1f, 0f, 0f, 1f }, work);
    }

    [Fact]
    public void RepeatPenalty_ChangesGreedyChoice()
    {
        var s = new Sampler(Logits.Length);
        s.Reset(new SamplingParameters { Temperature = 0, RepeatPenalty = 1.5f, RepeatLastN = 8 });
        // Token 1 (2.0) penalised to 1.33, so 5 (1.9) wins.
        Assert.Equal(5, s.Sample(Logits, [1]));
    }

    [Fact]
    public void Sample_DoesNotAllocatePerToken()
    {
        var logits = Enumerable.Range(0, 4096).Select(i => MathF.Sin(i)).ToArray();
        var s = new Sampler(logits.Length);
        s.Reset(new SamplingParameters { Temperature = 0.7f, TopK = 40, TopP = 0.9f, MinP = 0.05f, RepeatPenalty = 1.1f, Seed = 5 });
        int[] history = [1, 2, 3, 4, 5];
        s.Sample(logits, history);
        // The fewest bytes any of five rounds allocated: a per-token allocation shows in every round, while a one-time
        // allocation of the runtime on this thread (seen once in a full suite: 5,648 bytes, tiered compilation moving
        // the sampler's methods up while the round ran) shows in one.
        var fewest = long.MaxValue;
        for (var round = 0; round < 5; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 100; i++) s.Sample(logits, history);
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, fewest);
    }

    private static HashSet<int> Draw(SamplingParameters p, float[]? logits = null)
    {
        logits ??= Logits;
        var s = new Sampler(logits.Length);
        s.Reset(p);
        var seen = new HashSet<int>();
        for (var i = 0; i < 2000; i++) seen.Add(s.Sample(logits, []));
        return seen;
    }
}
