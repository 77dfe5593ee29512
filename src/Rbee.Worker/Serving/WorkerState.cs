namespace Rbee.Worker.Serving;

/// <summary>What the worker serves once the model is loaded: the model, its slots and their context size.</summary>
public sealed class LoadedWorker(IServedModel model, SlotPool pool, int contextSize, WorkerMetrics? metrics = null) : IDisposable
{
    public IServedModel Model { get; } = model;
    public SlotPool Pool { get; } = pool;
    public int ContextSize { get; } = contextSize;

    /// <summary>The thread that runs every slot's generation, batched.</summary>
    public InferenceLoop Loop { get; } = new(model, metrics);

    /// <summary>Creates <paramref name="options"/>.Parallel slots, each with its own KV cache and sampler, and the
    /// loop that serves them (observing its batches in <paramref name="metrics"/> when given).</summary>
    public static LoadedWorker Create(IServedModel model, WorkerOptions options, WorkerMetrics? metrics = null)
    {
        var ctx = options.EffectiveContextSize(model.TrainedContextLength);
        var slots = new List<Slot>();
        try
        {
            for (var i = 0; i < options.Parallel; i++)
                slots.Add(new Slot(i, model.CreateSession(ctx), new Sampling.Sampler(model.VocabSize), ctx));
        }
        catch
        {
            foreach (var s in slots) s.Dispose();
            throw;
        }
        return new LoadedWorker(model, new SlotPool(slots, options.QueueSize), ctx, metrics);
    }

    public void Dispose()
    {
        Loop.Dispose();
        Pool.Dispose();
        Model.Dispose();
    }
}

/// <summary>Loading, then ready. <c>/health</c> answers 503 until <see cref="Ready"/> is set (issue 5).</summary>
public sealed class WorkerState(WorkerOptions options)
{
    private volatile LoadedWorker? _loaded;

    public WorkerOptions Options { get; } = options;

    public LoadedWorker? Loaded => _loaded;

    public bool IsReady => _loaded is not null;

    public void Ready(LoadedWorker loaded) => _loaded = loaded;
}
