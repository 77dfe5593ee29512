using Rbee.Contracts.Wire;
using Rbee.Models;

namespace Rbee.Queen.Scheduling;

/// <summary>The memory a worker of a given type needs for a model, for placement (weights + KV cache + 10 %).</summary>
public static class WorkerMemory
{
    /// <summary>llama.cpp's and vLLM's default KV cache element (f16); the built-in worker's is float32.</summary>
    private const int F16KvBytes = 2;

    public static long Estimate(ModelInfo model, string workerType) =>
        ModelMemoryEstimate.Estimate(model, kvBytesPerElement: workerType == "llm" ? ModelMemoryEstimate.Float32KvBytes : F16KvBytes).TotalBytes;
}
