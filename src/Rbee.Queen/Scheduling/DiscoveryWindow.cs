using Microsoft.Extensions.Options;
using Rbee.Contracts.Protocol;
using Rbee.Queen.Cluster;
using Rbee.Queen.Remote;

namespace Rbee.Queen.Scheduling;

/// <summary>
/// The first moments of a queen, while it is still learning its hives (docs/routing.md "Admission"): a request for a
/// model no hive has yet may only be early, not wrong, so the scheduler waits for the view to change instead of answering
/// 404 at once.
/// </summary>
public interface IDiscoveryWindow
{
    /// <summary>How much longer an unknown model may yet appear; zero once the queen knows its hives.</summary>
    TimeSpan Remaining { get; }

    /// <summary>Completes when the cluster view changes, when <paramref name="timeout"/> passes, or throws when
    /// <paramref name="ct"/> is cancelled.</summary>
    Task WaitForChangeAsync(TimeSpan timeout, CancellationToken ct);
}

/// <summary>
/// Open from the queen's start for <see cref="ProtocolOptions.OfflineAfter"/> (the time liveness gives a silent hive,
/// well beyond a hive's announcement or the SSH config probe), and closed earlier once every managed hive its operator
/// wants running is live (then the view is what it will be, and an unknown model is unknown), or, where the queen manages
/// none, once any hive is: it cannot know how many more to expect, and a typo must not wait 10 s for its 404.
/// </summary>
/// <param name="opensAt">When the queen started (its process's start).</param>
public sealed class DiscoveryWindow(ClusterRegistry registry, ManagedHives managed, IOptions<ProtocolOptions> protocol, TimeProvider time,
    DateTimeOffset opensAt) : IDiscoveryWindow
{
    private readonly DateTimeOffset _closesAt = opensAt + protocol.Value.OfflineAfter;
    private volatile bool _closed;

    public TimeSpan Remaining
    {
        get
        {
            if (_closed) return TimeSpan.Zero;
            var left = _closesAt - time.GetUtcNow();
            var wanted = managed.All.Where(h => h.WantRunning).ToList();
            var snapshot = registry.Current;
            static bool Heard(HiveEntry? h) => h is { IsLive: true, LastFrame: not null };
            var known = wanted.Count > 0 ? wanted.All(h => Heard(snapshot.Find(h.Alias))) : snapshot.Hives.Values.Any(Heard);
            if (left <= TimeSpan.Zero || known)
            {
                _closed = true;
                return TimeSpan.Zero;
            }
            return left;
        }
    }

    public async Task WaitForChangeAsync(TimeSpan timeout, CancellationToken ct)
    {
        var version = registry.Current.Version;
        await registry.WaitForAsync(s => s.Version != version, timeout, ct).ConfigureAwait(false);
    }
}
