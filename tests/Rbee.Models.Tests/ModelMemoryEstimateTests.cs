using Rbee.Contracts.Wire;

namespace Rbee.Models.Tests;

/// <summary>The memory estimate's arithmetic, exactly, on hand-made models.</summary>
public sealed class ModelMemoryEstimateTests
{
    private static ModelInfo Model(int? context = 8192, int? layers = 2, int? kvHeads = 4, int? headDim = 16, long? weights = 1_000_000) => new()
    {
        Id = "m",
        Path = "/m/m.gguf",
        SizeBytes = 1_234_567,
        ContextLength = context,
        BlockCount = layers,
        HeadCountKv = kvHeads,
        HeadDim = headDim,
        WeightsBytes = weights,
    };

    [Fact]
    public void Default_TheContextIsCappedAt4096_AndTheKvCacheIsF16ForOneSlot()
    {
        var e = ModelMemoryEstimate.Estimate(Model());
        Assert.Equal(4096, e.ContextSize);
        Assert.Equal(1, e.Parallel);
        Assert.True(e.KvCacheKnown);
        Assert.Equal(1_000_000, e.WeightsBytes);
        Assert.Equal(2L * 2 * 4096 * 4 * 16 * 2, e.KvCacheBytes); // 2,097,152
        Assert.Equal(309_715, e.OverheadBytes); // 10 % of 3,097,152, rounded down
        Assert.Equal(1_000_000 + 2_097_152 + 309_715, e.TotalBytes);
    }

    [Fact]
    public void AModelWithAShorterContext_UsesItsOwn()
    {
        var e = ModelMemoryEstimate.Estimate(Model(context: 128));
        Assert.Equal(128, e.ContextSize);
        Assert.Equal(2L * 2 * 128 * 4 * 16 * 2, e.KvCacheBytes);
    }

    [Fact]
    public void ExplicitContextSlotsAndElementSize_MultiplyTheKvCache()
    {
        var e = ModelMemoryEstimate.Estimate(Model(), contextSize: 16384, parallel: 3, kvBytesPerElement: 2);
        Assert.Equal(16384, e.ContextSize);
        Assert.Equal(3, e.Parallel);
        Assert.Equal(2L * 2 * 16384 * 4 * 16 * 2 * 3, e.KvCacheBytes);
        Assert.Equal((1_000_000 + e.KvCacheBytes) / 10, e.OverheadBytes);
        Assert.Equal(1_000_000 + e.KvCacheBytes + e.OverheadBytes, e.TotalBytes);
    }

    [Fact]
    public void WithoutWhatTheKvTermNeeds_TheEstimateIsTheWeightsPlusTenPercent_AndSaysSo()
    {
        var e = ModelMemoryEstimate.Estimate(Model(headDim: null));
        Assert.False(e.KvCacheKnown);
        Assert.Equal(0, e.KvCacheBytes);
        Assert.Equal(100_000, e.OverheadBytes);
        Assert.Equal(1_100_000, e.TotalBytes);

        // No data offset read: the file's size stands for the weights; no context length: the cap.
        var bare = ModelMemoryEstimate.Estimate(Model(context: null, layers: null, weights: null));
        Assert.Equal(1_234_567, bare.WeightsBytes);
        Assert.Equal(ModelMemoryEstimate.DefaultContextCap, bare.ContextSize);
        Assert.Equal(1_234_567 + 123_456, bare.TotalBytes);
    }

    [Fact]
    public void ImpossibleArguments_AreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ModelMemoryEstimate.Estimate(Model(), contextSize: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ModelMemoryEstimate.Estimate(Model(), parallel: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ModelMemoryEstimate.Estimate(Model(), kvBytesPerElement: 0));
    }

    [Fact]
    public void TheWorkerUsesTheSameContextRule()
    {
        Assert.Equal(ModelMemoryEstimate.DefaultContextCap, Rbee.Worker.Serving.WorkerOptions.DefaultContextCap);
        var worker = new Rbee.Worker.Serving.WorkerOptions { ModelPath = "/m/m.gguf", ModelId = "m" };
        foreach (var trained in new[] { 128, 4096, 131072 })
            Assert.Equal(ModelMemoryEstimate.DefaultContextSize(trained), worker.EffectiveContextSize(trained));
        Assert.Equal(ModelMemoryEstimate.Estimate(Model(context: 131072)).ContextSize, worker.EffectiveContextSize(131072));
    }
}
