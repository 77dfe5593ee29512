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
    /// size; it bounds a session's scratch memory (about BatchSize × (4·n_embd + 2·n_ff) floats: 25 MB for a 1B
    /// llama, 46 MB for an 8B, beside the 8B's 512 MB of KV cache at 4,096 positions). Each decoded weight panel
    /// serves the whole step, so larger steps spend less of prefill decoding weights: 128 against 64 cut pp512's
    /// matrix time by 10–20 % on the bench model, and 256 against 128 gave pp512 5–8 % more on Q4_0, Q8_0 and Q4_K_M
    /// (F16 the same; 2026-12-05, in-process, alternating; 512: 2 % more again). It matches the inference loop's
    /// prompt chunk (256 tokens, <c>Generation.PromptBatch</c>), so a chunk is one step.
    /// </summary>
    public int BatchSize { get; init; } = 256;

    public void Validate()
    {
        if (Threads is < 1) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "threads must be at least 1");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "batch size must be at least 1");
    }
}
