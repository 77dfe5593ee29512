namespace Rbee.Worker.Serving;

/// <summary>What the worker serves once the model is loaded: the model, its slots and their context size.</summary>
public sealed class LoadedWorker(IServedModel model, SlotPool pool, int contextSize, WorkerMetrics? metrics = null,
    TimeSpan batchWindow = default) : IDisposable
{
    public IServedModel Model { get; } = model;
    public SlotPool Pool { get; } = pool;
    public int ContextSize { get; } = contextSize;

    /// <summary>The thread that runs every slot's generation, batched.</summary>
    public InferenceLoop Loop { get; } = new(model, metrics, batchWindow: batchWindow);

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
        // One slot cannot batch: nothing to wait for.
        var window = options.Parallel > 1 ? options.BatchWindow : TimeSpan.Zero;
        return new LoadedWorker(model, new SlotPool(slots, options.QueueSize), ctx, metrics, window);
    }

    /// <summary>
    /// Runs the path every request takes, before the worker says it is ready, so the first request is served as fast
    /// as the tenth (issue 13, "no cold first request"): the JIT compiles every method the path takes, the model's
    /// mapped weights are paged in, the batched decoder and the loop's buffers are allocated. Each round puts short prompts
    /// on every slot at once through the inference loop (prefill, then batched decode steps of all slots, as
    /// concurrent requests would run), once per length of <see cref="WarmUpPromptTokens"/>, and each slot's cache is
    /// emptied afterwards, so no request ever sees the warm-up's tokens. Call it once, before any request;
    /// <paramref name="rounds"/> 0 does nothing.
    /// </summary>
    public void WarmUp(int rounds)
    {
        var vocab = Model.VocabSize;
        var leases = AcquireAll();
        try
        {
            for (var round = 0; round < rounds; round++)
                foreach (var length in WarmUpPromptTokens)
                {
                    // Arbitrary ids spread over the vocabulary: only the code paths matter, not the text.
                    var prompt = Enumerable.Range(0, Math.Min(length, ContextSize - WarmUpDecodeSteps - 1))
                        .Select(i => (int)((i * 7919L + 1) % vocab)).ToArray();
                    if (prompt.Length == 0) return;
                    var request = new GenerationRequest
                    {
                        PromptTokens = prompt,
                        Sampling = new Sampling.SamplingParameters { Temperature = 0 },
                        MaxTokens = WarmUpDecodeSteps + 1,
                        IgnoreEos = true,
                    };
                    var runs = leases.Select(l => Loop.Submit(l.Slot, request, streaming: false, CancellationToken.None).Result).ToArray();
                    Task.WaitAll(runs);
                    foreach (var l in leases) l.Slot.Session.Truncate(0);
                }
        }
        finally
        {
            foreach (var l in leases) l.Dispose();
        }
    }

    /// <summary>Empties every slot's cache (after requests the worker sent itself to warm its HTTP path). Only while
    /// no request is being served: it waits for each slot in turn.</summary>
    public void EmptySlots()
    {
        var leases = AcquireAll();
        foreach (var l in leases)
        {
            l.Slot.Session.Truncate(0);
            l.Dispose();
        }
    }

    private List<SlotLease> AcquireAll()
    {
        var leases = new List<SlotLease>();
        for (var i = 0; i < Pool.Total; i++) leases.Add(Pool.AcquireAsync(ReadOnlyMemory<int>.Empty, CancellationToken.None).GetAwaiter().GetResult());
        return leases;
    }

    // Small enough to cost a fraction of a second on a 7B model. A prompt takes different kernels by its length
    // (MatMul: the panel GEMM from eight tokens, the four-token and one-token kernels below), and each is compiled at
    // its first call (the worker runs without tiered compilation): without the five-token prompt, the first short
    // prompt a user sent would pay for compiling the four-token kernels.
    private static readonly int[] WarmUpPromptTokens = [8, 5];
    private const int WarmUpDecodeSteps = 4;

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
