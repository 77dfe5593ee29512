using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading.Channels;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;

namespace Rbee.Queen.Telemetry;

/// <summary>One event of the queen's aggregate stream, already serialized (UTF-8 JSON, one line).</summary>
public sealed record ClusterStreamEvent(string Name, ReadOnlyMemory<byte> Json);

/// <summary>
/// The queen's aggregate stream (<c>GET /v1/heartbeats/stream</c>, DESIGN.md "Discovery and telemetry" 7): follows the
/// registry's typed <see cref="ClusterChange"/>s, turns each into its SSE event and serializes it once, and fans the same
/// bytes out to every reader. A <c>telemetry</c> event is the hive's frame exactly as it arrived. Each reader has its own
/// bounded queue, so a slow one loses its oldest events instead of slowing anything else. The hub follows the registry
/// only while someone reads, so nothing is serialized when nobody listens. Other queen components add their own events
/// (the scheduler's <c>request</c> and <c>worker_health</c>) with <see cref="Publish(string, ReadOnlyMemory{byte})"/>.
/// </summary>
public sealed class ClusterEventHub : IDisposable
{
    /// <summary>Events a reader may fall behind by before it loses the oldest: about 40 s of a 100-hive cluster.</summary>
    public const int DefaultQueueCapacity = 4096;
    private readonly ClusterRegistry _registry;
    private readonly int _queueCapacity;
    private readonly Lock _gate = new();
    // Readers and the registry subscription that feeds them, swapped whole under _gate, so the pump reads both at once:
    // a pump of a given-up subscription never feeds the readers of a newer one.
    private Fanout _fanout = new([], null);
    private long _nextId;

    public ClusterEventHub(ClusterRegistry registry) : this(registry, DefaultQueueCapacity) { }

    internal ClusterEventHub(ClusterRegistry registry, int queueCapacity)
    {
        _registry = registry;
        _queueCapacity = queueCapacity;
    }

    public bool HasSubscribers => Volatile.Read(ref _fanout).Readers.Length > 0;

    /// <summary>Sends an event to every reader as it is (UTF-8 JSON without newlines); does nothing when nobody reads.</summary>
    public void Publish(string name, ReadOnlyMemory<byte> json)
    {
        var readers = Volatile.Read(ref _fanout).Readers;
        if (readers.Length == 0) return;
        var e = new ClusterStreamEvent(name, json);
        foreach (var r in readers) r.Queue.Writer.TryWrite(e);
    }

    /// <summary>Serializes <paramref name="value"/> once and sends it to every reader; serializes nothing when nobody reads.</summary>
    public void Publish<T>(string name, T value, JsonTypeInfo<T> type)
    {
        if (!HasSubscribers) return;
        Publish(name, JsonSerializer.SerializeToUtf8Bytes(value, type));
    }

    /// <summary>A reader of every event from now on. Dispose it when the reader leaves.</summary>
    public Subscription Subscribe()
    {
        var queue = Channel.CreateBounded<ClusterStreamEvent>(new BoundedChannelOptions(_queueCapacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
            SingleWriter = false,
        });
        lock (_gate)
        {
            var fanout = _fanout;
            // Follow the registry from before this call returns, so no change after it is missed.
            var follow = fanout.Follow;
            var fresh = follow is null;
            if (fresh) follow = _registry.Subscribe();
            // Changes up to this version are in the snapshot the reader starts from (its first summary): not sent again.
            var reader = new Reader(++_nextId, queue, _registry.Current.Version);
            Volatile.Write(ref _fanout, new Fanout([.. fanout.Readers, reader], follow));
            // Only now: a pump that finds a change already queued checks that its subscription is the hub's, and before
            // this write it was not, so the pump would end and nothing from the registry would reach any reader again.
            if (fresh) _ = PumpAsync(follow!);
            return new Subscription(this, reader.Id, queue.Reader);
        }
    }

    private void Leave(long id)
    {
        lock (_gate)
        {
            var fanout = _fanout;
            var i = Array.FindIndex(fanout.Readers, r => r.Id == id);
            if (i < 0) return;
            fanout.Readers[i].Queue.Writer.TryComplete();
            Reader[] rest = [.. fanout.Readers.AsSpan(0, i), .. fanout.Readers.AsSpan(i + 1)];
            if (rest.Length > 0)
            {
                Volatile.Write(ref _fanout, new Fanout(rest, fanout.Follow));
                return;
            }
            // Nobody reads: stop following the registry, so nothing is serialized (or even queued) for nobody.
            Volatile.Write(ref _fanout, new Fanout([], null));
            fanout.Follow?.Dispose();
        }
    }

    private async Task PumpAsync(ClusterChangeSubscription changes)
    {
        var queue = changes.Reader;
        while (await queue.WaitToReadAsync().ConfigureAwait(false))
            while (queue.TryRead(out var change))
            {
                var fanout = Volatile.Read(ref _fanout);
                if (!ReferenceEquals(fanout.Follow, changes)) return;
                if (ToEvent(change) is not { } e) continue;
                foreach (var r in fanout.Readers)
                    if (change.Version > r.JoinedAfter) r.Queue.Writer.TryWrite(e);
            }
    }

    /// <summary>The SSE event of a change, serialized; null for changes the stream does not carry.</summary>
    internal static ClusterStreamEvent? ToEvent(ClusterChange change) => change switch
    {
        FrameApplied f => new(StreamEvents.Telemetry, f.Json.IsEmpty
            ? JsonSerializer.SerializeToUtf8Bytes(f.Frame, RbeeJsonContext.Default.TelemetryFrame)
            : f.Json),
        HiveStateChange s => Serialize(StreamEvents.HiveState,
            new HiveStateChanged(s.HiveId, s.OldState, s.NewState, s.Reason, s.Timestamp), RbeeJsonContext.Default.HiveStateChanged),
        WorkerAdded a => Serialize(StreamEvents.WorkerAdded,
            new WorkerChanged(a.HiveId, a.Worker, null, a.Worker.State, a.Timestamp), RbeeJsonContext.Default.WorkerChanged),
        WorkerRemoved r => Serialize(StreamEvents.WorkerRemoved,
            new WorkerChanged(r.HiveId, r.Worker, r.Worker.State, null, r.Timestamp), RbeeJsonContext.Default.WorkerChanged),
        WorkerStateChange w => Serialize(StreamEvents.WorkerState,
            new WorkerChanged(w.HiveId, w.Worker, w.OldState, w.NewState, w.Timestamp), RbeeJsonContext.Default.WorkerChanged),
        _ => null,
    };

    private static ClusterStreamEvent Serialize<T>(string name, T value, JsonTypeInfo<T> type) =>
        new(name, JsonSerializer.SerializeToUtf8Bytes(value, type));

    public void Dispose()
    {
        lock (_gate)
        {
            var fanout = _fanout;
            Volatile.Write(ref _fanout, new Fanout([], null));
            foreach (var r in fanout.Readers) r.Queue.Writer.TryComplete();
            fanout.Follow?.Dispose();
        }
    }

    private sealed record Reader(long Id, Channel<ClusterStreamEvent> Queue, long JoinedAfter);

    private sealed record Fanout(Reader[] Readers, ClusterChangeSubscription? Follow);

    public sealed class Subscription(ClusterEventHub hub, long id, ChannelReader<ClusterStreamEvent> reader) : IDisposable
    {
        public ChannelReader<ClusterStreamEvent> Reader { get; } = reader;

        public void Dispose() => hub.Leave(id);
    }
}
