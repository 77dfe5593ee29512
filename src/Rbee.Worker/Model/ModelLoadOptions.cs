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
    /// size; it bounds a session's scratch memory (about BatchSize × (4·n_embd + 2·n_ff) floats: 13 MB for a 1B
    /// llama, 23 MB for an 8B). Each decoded weight panel serves the whole step, so larger steps spend less of
    /// prefill decoding weights: 128 against 64 cut pp512's matrix time by 10–20 % on the bench model; 256 measured
    /// no better than 128.
    /// </summary>
    public int BatchSize { get; init; } = 128;

    public void Validate()
    {
        if (Threads is < 1) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "threads must be at least 1");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "batch size must be at least 1");
    }
}
