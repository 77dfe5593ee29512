namespace Rbee.Models.Stores;

/// <summary>
/// Another program's store of models on this machine, read in place: nothing is copied, nothing is written. A scan lists
/// the GGUF files a worker can load, each under the name the store's own tool gives it.
/// </summary>
public interface IModelStore
{
    /// <summary>Where the catalog says the file was found: one of <see cref="Rbee.Contracts.Wire.ModelSources"/>.</summary>
    string Source { get; }

    /// <summary>The store's directory (full path; it may not exist). Every file a scan lists lies below it.</summary>
    string Root { get; }

    /// <summary>
    /// Lists the store's models, in a stable order. A missing root is an empty store. Calls must not overlap (the catalog
    /// scans under its lock), so a store may keep what it learnt from the previous scan.
    /// </summary>
    /// <exception cref="IOException">The root exists but cannot be listed.</exception>
    /// <exception cref="UnauthorizedAccessException">The root exists but cannot be listed.</exception>
    ModelStoreScan Scan();
}

/// <summary>One model file of a store.</summary>
/// <param name="Path">The file to load (full path; for a Hugging Face snapshot, the link in the snapshot).</param>
/// <param name="Id">The model id: the store's own name for it.</param>
/// <param name="Origin">Where it came from, in the store's words (<c>org/repo:file.gguf</c>, <c>registry.ollama.ai/library/x:tag</c>).</param>
/// <param name="Sha256">The file's sha256 when the store addresses it by content; else null.</param>
public sealed record StoredModel(string Path, string Id, string? Origin, string? Sha256);

/// <summary>What one scan found: the models, and entries skipped for a reason that are new since the last scan (so a
/// caller that logs every problem reports each once, not every scan).</summary>
public sealed record ModelStoreScan(IReadOnlyList<StoredModel> Models, IReadOnlyList<StoreProblem> Problems)
{
    public static readonly ModelStoreScan Empty = new([], []);
}

/// <summary>An entry of a store that is not listed, and why.</summary>
public sealed record StoreProblem(string Path, string Reason);
