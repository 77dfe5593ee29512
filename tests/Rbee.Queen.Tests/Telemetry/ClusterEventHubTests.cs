using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;
using Rbee.Queen.Telemetry;
using static Rbee.Queen.Tests.Cluster.ClusterFixtures;

namespace Rbee.Queen.Tests.Telemetry;

/// <summary>The aggregate stream's bytes: serialized once per event, frames forwarded as they arrived.</summary>
public sealed class ClusterEventHubTests : IDisposable
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(10);
    private readonly ClusterRegistry _registry = Registry(Clock());
    private readonly ClusterEventHub _hub;

    public ClusterEventHubTests() => _hub = new ClusterEventHub(_registry);

    public void Dispose() => _hub.Dispose();

    private static async Task<ClusterStreamEvent> NextAsync(ClusterEventHub.Subscription s, string expected)
    {
        using var cts = new CancellationTokenSource(Budget);
        try
        {
            return await s.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"expected {expected} on the aggregate stream within {Budget.TotalSeconds} s; none came");
        }
    }

    [Fact]
    public void NobodyListening_TheHubDoesNotFollowTheRegistry_SoNothingIsSerialized()
    {
        Assert.False(_registry.HasSubscribers);
        var reader = _hub.Subscribe();
        Assert.True(_registry.HasSubscribers);
        reader.Dispose();
        Assert.False(_registry.HasSubscribers);
        Assert.True(reader.Reader.Completion.IsCompleted);
        // Nothing queued anywhere for a change nobody reads.
        _registry.Ready(Ready(), HiveUrl);
        _hub.Publish(StreamEvents.Request, "{}"u8.ToArray());
        Assert.False(reader.Reader.TryRead(out _));
    }

    [Fact]
    public async Task EachEvent_IsSerializedOnce_AndTheSameBytesGoToEveryReader()
    {
        using var a = _hub.Subscribe();
        using var b = _hub.Subscribe();
        using var c = _hub.Subscribe();
        _registry.Ready(Ready(), HiveUrl);
        var fromA = await NextAsync(a, "hive_state connecting");
        var fromB = await NextAsync(b, "hive_state connecting");
        var fromC = await NextAsync(c, "hive_state connecting");
        Assert.Equal(StreamEvents.HiveState, fromA.Name);
        // One event object, one array: serialized once however many read.
        Assert.Same(fromA, fromB);
        Assert.Same(fromA, fromC);
        Assert.True(MemoryMarshal.TryGetArray(fromA.Json, out var segA));
        Assert.True(MemoryMarshal.TryGetArray(fromC.Json, out var segC));
        Assert.Same(segA.Array, segC.Array);
        using var doc = JsonDocument.Parse(fromA.Json);
        Assert.Equal("connecting", doc.RootElement.GetProperty("new_state").GetString());
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("old_state").ValueKind);
    }

    [Fact]
    public async Task TelemetryEvent_IsTheFrameAsItArrived_ByteForByte()
    {
        using var reader = _hub.Subscribe();
        _registry.Ready(Ready(), HiveUrl);
        Assert.Equal(StreamEvents.HiveState, (await NextAsync(reader, "hive_state connecting")).Name);
        // Odd spacing and a field this queen does not know: re-serializing would change both.
        var raw = Encoding.UTF8.GetBytes(
            """{"hive_id":"gpu-box",  "instance_id":"i1","seq":0,"timestamp":"2026-01-01T00:00:00Z","node":{"cpu_pct":5,"ram_used_bytes":1,"ram_total_bytes":2,"gpus":[]},"workers":[],"models_version":7,"x_future":{"a":[1,2]}}""");
        var frame = JsonSerializer.Deserialize(raw, RbeeJsonContext.Default.TelemetryFrame)!;
        Assert.True(_registry.ApplyFrame(frame, raw));
        var telemetry = await NextAsync(reader, "telemetry");
        Assert.Equal(StreamEvents.Telemetry, telemetry.Name);
        Assert.Equal(raw, telemetry.Json.ToArray());
        Assert.True(MemoryMarshal.TryGetArray(telemetry.Json, out var seg));
        Assert.Same(raw, seg.Array);
        var online = await NextAsync(reader, "hive_state online");
        Assert.Equal(StreamEvents.HiveState, online.Name);
    }

    [Fact]
    public async Task WorkerEvents_KeepTheirWireShape()
    {
        using var reader = _hub.Subscribe();
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080, WorkerStates.Starting)));
        _registry.ApplyFrame(Frame(1, "i1", Worker(8080, WorkerStates.Ready)));
        _registry.ApplyFrame(Frame(2, "i1"));
        var names = new List<string>();
        var data = new List<JsonElement>();
        for (var i = 0; i < 8; i++)
        {
            var e = await NextAsync(reader, $"event {i + 1} of 8");
            names.Add(e.Name);
            data.Add(JsonDocument.Parse(e.Json).RootElement.Clone());
        }
        Assert.Equal([StreamEvents.HiveState, StreamEvents.Telemetry, StreamEvents.HiveState, StreamEvents.WorkerAdded,
            StreamEvents.Telemetry, StreamEvents.WorkerState, StreamEvents.Telemetry, StreamEvents.WorkerRemoved], names);
        Assert.Equal(JsonValueKind.Null, data[3].GetProperty("old_state").ValueKind);
        Assert.Equal("starting", data[3].GetProperty("new_state").GetString());
        Assert.Equal(("starting", "ready"), (data[5].GetProperty("old_state").GetString(), data[5].GetProperty("new_state").GetString()));
        Assert.Equal("ready", data[7].GetProperty("old_state").GetString());
        Assert.Equal(JsonValueKind.Null, data[7].GetProperty("new_state").ValueKind);
        Assert.Equal(8080, data[7].GetProperty("worker").GetProperty("port").GetInt32());
        Assert.Equal("gpu-box", data[7].GetProperty("hive_id").GetString());
    }

    [Fact]
    public async Task OtherComponents_PublishTheirOwnEvents_TypedOrAsBytes()
    {
        using var reader = _hub.Subscribe();
        var request = new RequestEvent("r1", "tiny", RequestPhases.Received, Start, 0) { Endpoint = "/v1/chat/completions" };
        _hub.Publish(StreamEvents.Request, request, RbeeJsonContext.Default.RequestEvent);
        var health = JsonSerializer.SerializeToUtf8Bytes(
            new WorkerHealthChanged(HiveId, 8080, "http://10.0.0.5:8080", true, Start.AddSeconds(30), 3, "connect refused", Start),
            RbeeJsonContext.Default.WorkerHealthChanged);
        _hub.Publish(StreamEvents.WorkerHealth, health);
        var first = await NextAsync(reader, "request");
        Assert.Equal(StreamEvents.Request, first.Name);
        Assert.Contains("\"phase\":\"received\"", Encoding.UTF8.GetString(first.Json.Span));
        var second = await NextAsync(reader, "worker_health");
        Assert.Equal(StreamEvents.WorkerHealth, second.Name);
        Assert.Equal(health, second.Json.ToArray());
    }

    [Fact]
    public async Task SlowReader_LosesItsOldestEvents_OthersGetEverything()
    {
        using var hub = new ClusterEventHub(_registry, queueCapacity: 16);
        using var slow = hub.Subscribe();
        using var fast = hub.Subscribe();
        _registry.Ready(Ready(), HiveUrl);
        await NextAsync(fast, "hive_state connecting");
        static byte[] Raw(int seq) => Encoding.UTF8.GetBytes($"{{\"seq\":{seq}}}");
        _registry.ApplyFrame(Frame(0), Raw(0));
        await NextAsync(fast, "telemetry 0");
        await NextAsync(fast, "hive_state online");
        for (var i = 1; i < 100; i++)
        {
            _registry.ApplyFrame(Frame(i), Raw(i));
            Assert.Equal(Raw(i), (await NextAsync(fast, $"telemetry {i}")).Json.ToArray());
        }
        // The slow reader, which never read, holds the newest 16 frames and nothing older.
        var kept = new List<ClusterStreamEvent>();
        while (slow.Reader.TryRead(out var e)) kept.Add(e);
        Assert.Equal(Enumerable.Range(84, 16).Select(Raw), kept.Select(e => e.Json.ToArray()));
    }

    /// <summary>
    /// A first reader's subscription starts the pump that feeds every reader. If a change reached the fresh registry
    /// subscription before the pump could see that subscription as the hub's own, the pump took it for a given-up one
    /// and ended: no telemetry or worker event ever came again while summaries, published directly, kept coming (a
    /// late queen's stream in the system tests). Frames arrive without pause here, so that moment comes up often.
    /// </summary>
    [Fact]
    public async Task FirstReader_WhileFramesArriveWithoutPause_GetsTelemetry_EveryTime()
    {
        _registry.Ready(Ready(), HiveUrl);
        var stop = false;
        var frames = Task.Run(() =>
        {
            for (var seq = 0L; !Volatile.Read(ref stop); seq++)
            {
                _registry.ApplyFrame(Frame(seq));
                Thread.Yield();
            }
        });
        try
        {
            for (var i = 0; i < 150; i++)
            {
                using var reader = _hub.Subscribe();
                while ((await NextAsync(reader, $"a telemetry event for reader {i + 1}, the only one (a fresh pump)")).Name != StreamEvents.Telemetry) { }
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            await frames;
        }
    }

    [Fact]
    public async Task ReaderAfterTheLastLeft_GetsNewEventsOnly_FromAFreshFollow()
    {
        var first = _hub.Subscribe();
        _registry.Ready(Ready(), HiveUrl);
        await NextAsync(first, "hive_state connecting");
        first.Dispose();
        _registry.ApplyFrame(Frame(0));
        using var second = _hub.Subscribe();
        _registry.StreamClosed(HiveId, "i1", "stream closed");
        var e = await NextAsync(second, "hive_state offline");
        using var doc = JsonDocument.Parse(e.Json);
        Assert.Equal("offline", doc.RootElement.GetProperty("new_state").GetString());
        Assert.False(second.Reader.TryRead(out _));
    }
}
