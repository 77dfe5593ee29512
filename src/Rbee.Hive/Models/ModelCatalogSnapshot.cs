using Rbee.Contracts.Wire;

namespace Rbee.Hive.Models;

/// <summary>
/// The seam between the model catalog and telemetry: the catalog's version, carried in every frame
/// (<see cref="TelemetryFrame.ModelsVersion"/>), and a signal when it grows so a frame goes out at once.
/// </summary>
public interface IModelCatalogView
{
    long Version { get; }

    /// <summary>Raised after <see cref="Version"/> grew.</summary>
    event Action? Changed;
}

/// <summary>
/// The catalog as of one scan: immutable, swapped whole (STYLE.md §3), so <c>GET /v1/catalog</c>, spawn and telemetry
/// read a list and a version that belong together without taking a lock.
/// </summary>
public sealed class ModelCatalogSnapshot
{
    public static readonly ModelCatalogSnapshot Empty = new(0, []);

    private readonly Dictionary<string, ModelInfo> _byId;
    private readonly Dictionary<string, ModelInfo> _byPath;

    public ModelCatalogSnapshot(long version, IReadOnlyList<ModelInfo> models)
    {
        Version = version;
        Models = models;
        _byId = models.ToDictionary(m => m.Id, StringComparer.Ordinal);
        // One file may be listed under several ids (two Ollama names of one blob): the first is the file's id.
        _byPath = new Dictionary<string, ModelInfo>(models.Count, StringComparer.Ordinal);
        foreach (var m in models) _byPath.TryAdd(m.Path, m);
    }

    /// <summary>Grows by one whenever the list (ids, paths, sizes, times) changes; 0 is the empty catalog before any.</summary>
    public long Version { get; }

    /// <summary>In source order: the models directory first, then <c>Models:Paths</c>, the Hugging Face cache and Ollama's
    /// store; by file name within a directory, by the store's order within a store.</summary>
    public IReadOnlyList<ModelInfo> Models { get; }

    public bool TryGet(string id, out ModelInfo model) => _byId.TryGetValue(id, out model!);

    /// <summary>The model listed at this full path, if any (the first, when several ids share the file).</summary>
    public ModelInfo? AtPath(string path) => _byPath.GetValueOrDefault(path);
}
