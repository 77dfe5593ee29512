using Rbee.Queen.Cluster;

namespace Rbee.Queen.Scheduling;

/// <summary>
/// The current cluster view indexed by model (<see cref="ClusterModels"/>), rebuilt only when the snapshot changes: every
/// request of one snapshot version shares one index, and reading it takes no lock.
/// </summary>
/// <param name="aliases">Alias → source (<c>Models:Aliases</c>), for <see cref="ClusterModels.Resolve"/>.</param>
public sealed class ModelIndex(Func<ClusterSnapshot> current, SchedulingOptions options, IReadOnlyDictionary<string, string>? aliases = null)
{
    private ClusterModels? _cached;

    public ClusterModels Current
    {
        get
        {
            var snapshot = current();
            var cached = Volatile.Read(ref _cached);
            if (cached is not null && ReferenceEquals(cached.Snapshot, snapshot)) return cached;
            var built = ClusterModels.Build(snapshot, options.WorkerTypes, aliases);
            Volatile.Write(ref _cached, built);
            return built;
        }
    }
}
