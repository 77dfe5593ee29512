namespace Rbee.Worker.Model;

/// <summary>How a model is loaded and run. Defaults suit a CPU worker; validated by <see cref="Validate"/>.</summary>
public sealed class ModelLoadOptions
{
    /// <summary>
    /// Compute threads (matrix products and attention), set on the process-wide <c>ComputePool</c> at load;
    /// null leaves the pool as it is (one thread per core unless configured).
    /// </summary>
    public int? Threads { get; init; }

    /// <summary>
    /// Most tokens one prefill step pushes through the layers together. Longer prompts are cut into steps of this
    /// size; it bounds a session's scratch memory (about BatchSize × (4·n_embd + 2·n_ff) floats).
    /// </summary>
    public int BatchSize { get; init; } = 64;

    public void Validate()
    {
        if (Threads is < 1) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "threads must be at least 1");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "batch size must be at least 1");
    }
}
