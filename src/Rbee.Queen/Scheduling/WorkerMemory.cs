using Rbee.Contracts.Wire;

namespace Rbee.Queen.Scheduling;

/// <summary>The memory a worker for a model needs, for placement.</summary>
public static class WorkerMemory
{
    public static long Estimate(ModelInfo model, string workerType)
    {
        var weights = model.WeightsBytes ?? model.SizeBytes;
        long kv = 0;
        if (model.BlockCount is { } layers && model.HeadCountKv is { } kvHeads && model.HeadDim is { } headDim)
            kv = 2L * layers * Math.Min(model.ContextLength ?? 4096, 4096) * kvHeads * headDim * 4;
        return (long)((weights + kv) * 1.1);
    }
}
