using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;

namespace Rbee.Queen.Scheduling;

/// <summary>A worker of the cluster view serving one model, with its hive.</summary>
public sealed record ServingWorker(HiveEntry Hive, ProcessStats Worker, WorkerKey Key, string Url, long? FreeMemoryBytes);

/// <summary>A hive that has a model's file and a worker type that can run it.</summary>
public sealed record ModelOnDisk(HiveEntry Hive, ModelInfo Model, string WorkerType, IReadOnlyList<string> DeviceKinds);

/// <summary>Everything the cluster view says about one model id.</summary>
public sealed class ModelPresence(string id)
{
    public string Id { get; } = id;

    /// <summary>Ready workers on online hives: the candidates (before the queen's own health and load checks).</summary>
    public List<ServingWorker> Ready { get; } = [];

    /// <summary>Workers still loading on online hives: a request waits for them instead of starting another.</summary>
    public List<ServingWorker> Starting { get; } = [];

    /// <summary>Online hives that could start a worker for it.</summary>
    public List<ModelOnDisk> OnDisk { get; } = [];

    /// <summary>Hives not online (degraded) that serve or hold the model: it exists but cannot be routed to now.</summary>
    public SortedSet<string> UnhealthyHives { get; } = new(StringComparer.Ordinal);

    /// <summary>Whether a request for it can be served now or after a cold start.</summary>
    public bool Routable => Ready.Count > 0 || Starting.Count > 0 || OnDisk.Count > 0;
}

/// <summary>
/// The cluster view indexed by model id (DESIGN.md "Scheduling and routing"): which ready workers serve each model,
/// which are loading, and which hives could start one. Built once per snapshot (the snapshot is immutable, so the
/// index is too) and shared by every request until the next snapshot.
/// </summary>
public sealed class ClusterModels
{
    /// <summary>Ollama's default tag: a name without one means this.</summary>
    public const string LatestTag = ":latest";

    private readonly Dictionary<string, ModelPresence> _models = new(StringComparer.Ordinal);
    private readonly IReadOnlyDictionary<string, string>? _aliases;
    // Alias source → the id of a model whose origin it is (the smallest, so the choice does not depend on hive order).
    private readonly Dictionary<string, string> _byOrigin = new(StringComparer.Ordinal);

    private ClusterModels(ClusterSnapshot snapshot, IReadOnlyDictionary<string, string>? aliases)
    {
        Snapshot = snapshot;
        _aliases = aliases is { Count: > 0 } ? aliases : null;
    }

    public ClusterSnapshot Snapshot { get; }

    public IReadOnlyCollection<ModelPresence> All => _models.Values;

    /// <summary>The model of exactly this id.</summary>
    public ModelPresence? Find(string model) => _models.GetValueOrDefault(model);

    /// <summary>
    /// The model a request naming <paramref name="requested"/> is served by: the model of that id; else, for a name
    /// without a tag, its <c>:latest</c> (Ollama's default tag: <c>tiny</c> is <c>tiny:latest</c>); else, for an alias
    /// (<c>Models:Aliases</c>), a model whose origin is the alias's source (pulled by hand under its file's name). Every
    /// request, <c>GET /v1/models/{id}</c> and the scheduler's queues go through this one lookup, so a model has one queue
    /// whichever of its names a request uses. Null when none.
    /// </summary>
    public ModelPresence? Resolve(string requested)
    {
        if (Find(requested) is { } exact) return exact;
        if (!requested.Contains(':', StringComparison.Ordinal) && Find(requested + LatestTag) is { } latest) return latest;
        if (_aliases is not null && _aliases.TryGetValue(requested, out var source) && _byOrigin.TryGetValue(source.Trim(), out var id)) return Find(id);
        return null;
    }

    /// <summary>The id a worker answers to: what the hive reports, else its file name without extension (an older hive).</summary>
    public static string? ModelIdOf(ProcessStats w) =>
        w.ModelId ?? (w.Model is { Length: > 0 } path ? Rbee.Models.ModelFiles.IdOf(path) : null);

    public static bool IsRoutable(HiveEntry hive) => hive.State == HiveState.Online;

    /// <param name="aliases">Alias → source (<c>Models:Aliases</c>), for <see cref="Resolve"/>; null or empty for none.</param>
    public static ClusterModels Build(ClusterSnapshot snapshot, IReadOnlyList<string> workerTypes, IReadOnlyDictionary<string, string>? aliases = null)
    {
        var index = new ClusterModels(snapshot, aliases);
        var sources = index._aliases?.Values.Select(v => v.Trim()).ToHashSet(StringComparer.Ordinal);
        foreach (var hive in snapshot.Hives.Values)
        {
            var online = IsRoutable(hive);
            var unhealthy = hive.State == HiveState.Degraded;
            if (!online && !unhealthy) continue;
            foreach (var w in hive.Workers)
            {
                if (ModelIdOf(w) is not { } id) continue;
                var presence = index.Get(id);
                if (!online)
                {
                    presence.UnhealthyHives.Add(hive.HiveId);
                    continue;
                }
                var serving = new ServingWorker(hive, w, new WorkerKey(hive.HiveId, w.Port, w.Pid), ClusterViews.WorkerUrl(hive, w),
                    FreeBytes(hive, w.Device ?? "cpu"));
                if (w.State == WorkerStates.Ready) presence.Ready.Add(serving);
                else if (w.State == WorkerStates.Starting) presence.Starting.Add(serving);
            }
            if (hive.Catalog is not { } catalog) continue;
            var type = UsableType(hive, workerTypes);
            foreach (var m in catalog.Models)
            {
                var presence = index.Get(m.Id);
                if (sources is not null && m.Origin is { } origin && sources.Contains(origin.Trim())
                    && (!index._byOrigin.TryGetValue(origin.Trim(), out var held) || string.CompareOrdinal(m.Id, held) < 0))
                    index._byOrigin[origin.Trim()] = m.Id;
                if (!online) presence.UnhealthyHives.Add(hive.HiveId);
                else if (type is not null) presence.OnDisk.Add(new ModelOnDisk(hive, m, type.Name, type.DeviceKinds ?? ["cpu"]));
            }
        }
        return index;
    }

    /// <summary>The first of <paramref name="preference"/> that the hive has available, or null.</summary>
    public static WorkerTypeInfo? UsableType(HiveEntry hive, IReadOnlyList<string> preference)
    {
        if (hive.Capabilities is not { } caps) return null;
        foreach (var name in preference)
            foreach (var t in caps.WorkerTypes)
                if (t.Available && t.Name == name) return t;
        return null;
    }

    /// <summary>
    /// Free memory of a device per the hive's last frame: RAM (total − used) for <c>cpu</c>, VRAM for <c>cuda:N</c>.
    /// Null when the hive did not measure it: never a number that was not read.
    /// </summary>
    public static long? FreeBytes(HiveEntry hive, string device)
    {
        if (hive.LastFrame?.Node is not { } node) return null;
        if (device == "cpu")
            return node.RamTotalBytes is { } total && node.RamUsedBytes is { } used ? Math.Max(0, total - used) : null;
        foreach (var g in node.Gpus)
            if (g.Id == device)
                return g.VramTotalBytes is { } total && g.VramUsedBytes is { } used ? Math.Max(0, total - used) : null;
        return null;
    }

    private ModelPresence Get(string id)
    {
        if (!_models.TryGetValue(id, out var p)) _models[id] = p = new ModelPresence(id);
        return p;
    }
}
