using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Rbee.Queen.Telemetry;

/// <summary>One event of the queen's aggregate stream, already serialized.</summary>
public sealed record ClusterStreamEvent(string Name, byte[] Json);

/// <summary>
/// Fans the queen's aggregate events (DESIGN.md "Discovery and telemetry" 7) out to every subscriber of
/// <c>GET /v1/heartbeats/stream</c>. Each subscriber has its own bounded queue, so a slow reader loses its
/// oldest events instead of slowing the cluster registry.
/// </summary>
public sealed class ClusterEventHub
{
    private const int QueueCapacity = 4096;
    private readonly ConcurrentDictionary<long, Channel<ClusterStreamEvent>> _subscribers = new();
    private long _nextId;

    public bool HasSubscribers => !_subscribers.IsEmpty;

    public void Publish(ClusterStreamEvent e)
    {
        foreach (var channel in _subscribers.Values) channel.Writer.TryWrite(e);
    }

    public Subscription Subscribe()
    {
        var id = Interlocked.Increment(ref _nextId);
        var channel = Channel.CreateBounded<ClusterStreamEvent>(new BoundedChannelOptions(QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
            SingleWriter = false,
        });
        _subscribers[id] = channel;
        return new Subscription(this, id, channel.Reader);
    }

    public sealed class Subscription(ClusterEventHub hub, long id, ChannelReader<ClusterStreamEvent> reader) : IDisposable
    {
        public ChannelReader<ClusterStreamEvent> Reader { get; } = reader;

        public void Dispose()
        {
            if (hub._subscribers.TryRemove(id, out var channel)) channel.Writer.TryComplete();
        }
    }
}
