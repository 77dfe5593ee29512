namespace Rbee.Worker.Model;

/// <summary>How a model is loaded and run. Defaults suit a CPU worker; validated by <see cref="Validate"/>.</summary>
public sealed class ModelLoadOptions
{
    /// <summary>Compute threads for the kernels; null = the kernels' own default (one per core).</summary>
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
