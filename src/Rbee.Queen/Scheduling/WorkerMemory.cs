using Rbee.Contracts.Wire;
using Rbee.Models;

namespace Rbee.Queen.Scheduling;

/// <summary>The memory a worker of a given type needs for a model, for placement (weights + KV cache + 10 %).</summary>
public static class WorkerMemory
{
    public static long Estimate(ModelInfo model, string workerType) => ModelMemoryEstimate.ForWorkerType(model, workerType);
}
