using System.Threading.Channels;

namespace Rbee.Queen.Cluster;

/// <summary>
/// One in-process reader of the registry's <see cref="ClusterChange"/>s (<see cref="ClusterRegistry.Subscribe"/>), with a
/// bounded queue of its own: a reader that falls behind loses its oldest changes (counted in <see cref="Dropped"/>) and
/// never slows the registry or another reader. It sees every change made after <see cref="ClusterRegistry.Subscribe"/>
/// returned and none that <see cref="ClusterRegistry.Current"/> read after that call already showed. Dispose to stop.
/// </summary>
public sealed class ClusterChangeSubscription : IDisposable
{
    private readonly ClusterRegistry _registry;
    private readonly Channel<ClusterChange> _queue;
    private long _dropped;

    internal ClusterChangeSubscription(ClusterRegistry registry, int capacity, long afterVersion)
    {
        _registry = registry;
        AfterVersion = afterVersion;
        _queue = Channel.CreateBounded<ClusterChange>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
            SingleWriter = false,
        }, _ => Interlocked.Increment(ref _dropped));
    }

    public ChannelReader<ClusterChange> Reader => _queue.Reader;

    /// <summary>Changes this reader lost because its queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>The snapshot version when it subscribed: changes up to it were already in that snapshot.</summary>
    internal long AfterVersion { get; }

    /// <summary>Called by the registry's publisher, one change at a time, in order.</summary>
    internal void Offer(ClusterChange change)
    {
        if (change.Version > AfterVersion) _queue.Writer.TryWrite(change);
    }

    public void Dispose()
    {
        _registry.Unsubscribe(this);
        _queue.Writer.TryComplete();
    }
}
