using System.Collections.Concurrent;
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
public sealed class ClusterEventHub(ClusterRegistry registry) : IDisposable
{
    private const int QueueCapacity = 4096;
    private readonly ConcurrentDictionary<long, Channel<ClusterStreamEvent>> _readers = new();
    private readonly Lock _gate = new();
    private ClusterChangeSubscription? _changes;
    private long _nextId;

    public bool HasSubscribers => !_readers.IsEmpty;

    /// <summary>Sends an event to every reader as it is (UTF-8 JSON without newlines); does nothing when nobody reads.</summary>
    public void Publish(string name, ReadOnlyMemory<byte> json)
    {
        if (_readers.IsEmpty) return;
        Fan(new ClusterStreamEvent(name, json));
    }

    /// <summary>Serializes <paramref name="value"/> once and sends it to every reader; serializes nothing when nobody reads.</summary>
    public void Publish<T>(string name, T value, JsonTypeInfo<T> type)
    {
        if (_readers.IsEmpty) return;
        Fan(new ClusterStreamEvent(name, JsonSerializer.SerializeToUtf8Bytes(value, type)));
    }

    /// <summary>A reader of every event from now on. Dispose it when the reader leaves.</summary>
    public Subscription Subscribe()
    {
        var id = Interlocked.Increment(ref _nextId);
        var channel = Channel.CreateBounded<ClusterStreamEvent>(new BoundedChannelOptions(QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
            SingleWriter = false,
        });
        lock (_gate)
        {
            _readers[id] = channel;
            // Follow the registry from before this call returns, so no change after it is missed.
            if (_changes is null)
            {
                _changes = registry.Subscribe();
                _ = PumpAsync(_changes);
            }
        }
        return new Subscription(this, id, channel.Reader);
    }

    private void Leave(long id)
    {
        if (!_readers.TryRemove(id, out var channel)) return;
        channel.Writer.TryComplete();
        lock (_gate)
        {
            if (!_readers.IsEmpty || _changes is null) return;
            _changes.Dispose();
            _changes = null;
        }
    }

    private async Task PumpAsync(ClusterChangeSubscription changes)
    {
        var reader = changes.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
                while (reader.TryRead(out var change))
                {
                    // A pump whose subscription was given up (the last reader left) must not feed readers of a newer one.
                    if (!ReferenceEquals(Volatile.Read(ref _changes), changes)) return;
                    if (ToEvent(change) is { } e) Fan(e);
                }
        }
        catch (ChannelClosedException)
        {
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

    private void Fan(ClusterStreamEvent e)
    {
        // Enumerating the dictionary itself takes no lock and copies nothing (its Values property copies).
        foreach (var (_, channel) in _readers) channel.Writer.TryWrite(e);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _changes?.Dispose();
            _changes = null;
        }
    }

    public sealed class Subscription(ClusterEventHub hub, long id, ChannelReader<ClusterStreamEvent> reader) : IDisposable
    {
        public ChannelReader<ClusterStreamEvent> Reader { get; } = reader;

        public void Dispose() => hub.Leave(id);
    }
}
