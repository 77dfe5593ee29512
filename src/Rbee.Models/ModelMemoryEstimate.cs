using Rbee.Contracts.Wire;

namespace Rbee.Models;

/// <summary>
/// How much memory a worker serving a model needs: its weights (mapped, so page cache, but resident once used), its
/// KV cache, and a margin for activations, buffers and the runtime. <see cref="KvCacheKnown"/> is false when the file
/// lacks what the KV term needs (layers, KV heads, head size): the estimate is then the weights and the margin only.
/// </summary>
public sealed record ModelMemoryEstimate(
    long WeightsBytes,
    long KvCacheBytes,
    long OverheadBytes,
    long TotalBytes,
    int ContextSize,
    int Parallel,
    bool KvCacheKnown)
{
    /// <summary>
    /// The context a worker uses when it is not told one and the model's own is larger: every slot holds a KV cache this
    /// long, so a 128K-context model must not reserve 128K per slot by default. llm-worker-rbee takes this constant from
    /// here, so the estimate and the worker cannot drift apart.
    /// </summary>
    public const int DefaultContextCap = 4096;

    /// <summary>The margin on weights + KV cache, in percent.</summary>
    public const int OverheadPercent = 10;

    /// <summary>A float32 KV cache element (an engine configured so).</summary>
    public const int Float32KvBytes = 4;

    /// <summary>The KV cache element of llm-worker-rbee, llama.cpp and vLLM by default: f16.</summary>
    public const int Float16KvBytes = 2;

    /// <summary>
    /// The memory a worker of <paramref name="workerType"/> needs for <paramref name="model"/> at its defaults: every
    /// engine of the catalog keeps an f16 KV cache (llm-worker-rbee since issue 13). The queen places with it and the hive
    /// refuses a spawn that does not fit with it, so the two agree.
    /// </summary>
    public static long ForWorkerType(ModelInfo model, string workerType) =>
        Estimate(model, kvBytesPerElement: Float16KvBytes).TotalBytes;

    /// <summary>The context a worker uses by default: the model's own, capped at <see cref="DefaultContextCap"/>.</summary>
    public static int DefaultContextSize(int modelContextLength) => Math.Min(modelContextLength, DefaultContextCap);

    /// <param name="contextSize">Positions per slot; null: the worker's default for this model.</param>
    /// <param name="parallel">Slots, each with a KV cache of its own.</param>
    /// <param name="kvBytesPerElement">2 for an f16 cache (every engine's default), 4 for float32.</param>
    public static ModelMemoryEstimate Estimate(ModelInfo model, int? contextSize = null, int parallel = 1, int kvBytesPerElement = Float16KvBytes)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (contextSize is < 1) throw new ArgumentOutOfRangeException(nameof(contextSize), contextSize, "must be at least 1");
        ArgumentOutOfRangeException.ThrowIfLessThan(parallel, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(kvBytesPerElement, 1);

        var context = contextSize ?? (model.ContextLength is { } trained ? DefaultContextSize(trained) : DefaultContextCap);
        // A file without a data section (or an unread one) still weighs its size.
        var weights = model.WeightsBytes ?? model.SizeBytes;
        var known = false;
        long kv = 0;
        if (model is { BlockCount: { } layers, HeadCountKv: { } kvHeads, HeadDim: { } headDim })
        {
            known = true;
            // keys and values, per layer, per position, per KV head, per head element, per slot
            kv = checked(2L * layers * context * kvHeads * headDim * kvBytesPerElement * parallel);
        }
        var overhead = checked(weights + kv) * OverheadPercent / 100;
        return new ModelMemoryEstimate(weights, kv, overhead, checked(weights + kv + overhead), context, parallel, known);
    }
}
