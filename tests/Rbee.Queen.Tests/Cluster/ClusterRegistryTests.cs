using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Contracts.Json;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;
using Rbee.Queen.Telemetry;

namespace Rbee.Queen.Tests.Cluster;

public sealed class ClusterRegistryTests
{
    private static readonly Uri HiveUrl = new("http://10.0.0.5:7835");
    private readonly ManualClock _clock = new();
    private readonly ClusterEventHub _hub = new();
    private readonly ClusterEventHub.Subscription _events;
    private readonly ClusterRegistry _registry;

    public ClusterRegistryTests()
    {
        _events = _hub.Subscribe();
        _registry = new ClusterRegistry(new HiveLiveness(new ProtocolOptions()), _clock, _hub, NullLogger<ClusterRegistry>.Instance);
    }

    private static HiveReady Ready(string instance = "i1", string url = "http://10.0.0.5:7835", int protocol = ProtocolConstants.ProtocolVersion) =>
        new("gpu-box", url, instance, "0.1.0", protocol);

    private static ProcessStats Worker(int port, string state = WorkerStates.Ready) =>
        new(1000 + port, "llm", port.ToString(System.Globalization.CultureInfo.InvariantCulture), port, state, "m.gguf", "cpu",
            1.0, 10, null, null, 1.0, null, null, null);

    private static TelemetryFrame Frame(long seq, string instance = "i1", params ProcessStats[] workers) =>
        new("gpu-box", instance, seq, DateTimeOffset.UnixEpoch, new NodeStats(5, 1, 2, []), workers);

    private List<(string Name, JsonElement Data)> DrainEvents()
    {
        var list = new List<(string, JsonElement)>();
        while (_events.Reader.TryRead(out var e)) list.Add((e.Name, JsonDocument.Parse(e.Json).RootElement));
        return list;
    }

    private HiveEntry Hive => _registry.Current.Find("gpu-box")!;

    [Fact]
    public void FirstReady_Registers_AndTheFirstFrameMakesTheHiveOnline()
    {
        Assert.Equal(ReadyOutcome.Registered, _registry.Ready(Ready(), HiveUrl));
        Assert.Equal(HiveStates.Offline, Hive.State);
        Assert.True(Hive.Connecting);
        Assert.True(_registry.ApplyFrame(Frame(0, "i1", Worker(8080))));
        Assert.Equal(HiveStates.Online, Hive.State);
        var events = DrainEvents();
        Assert.Equal([StreamEvents.Telemetry, StreamEvents.HiveState, StreamEvents.WorkerAdded], events.Select(e => e.Name));
        Assert.Equal("offline", events[1].Data.GetProperty("old_state").GetString());
        Assert.Equal("online", events[1].Data.GetProperty("new_state").GetString());
    }

    [Fact]
    public void ReadyForLiveHiveFromAnotherUrl_IsAConflict_AndChangesNothing()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0));
        var version = _registry.Current.Version;
        Assert.Equal(ReadyOutcome.Conflict, _registry.Ready(Ready("forged", "http://6.6.6.6:7835"), new Uri("http://6.6.6.6:7835")));
        Assert.Equal(version, _registry.Current.Version);
        Assert.Equal(("i1", HiveUrl), (Hive.InstanceId, Hive.HiveUrl));
    }

    [Fact]
    public void RepeatedConflict_IsOneWarning_AnotherUrlIsANewOne()
    {
        var log = new LevelLog();
        var registry = new ClusterRegistry(new HiveLiveness(new ProtocolOptions()), _clock, _hub, log);
        registry.Ready(Ready(), HiveUrl);
        for (var i = 0; i < 3; i++)
            Assert.Equal(ReadyOutcome.Conflict, registry.Ready(Ready("x", "http://6.6.6.6:7835"), new Uri("http://6.6.6.6:7835")));
        Assert.Equal(ReadyOutcome.Conflict, registry.Ready(Ready("y", "http://7.7.7.7:7835"), new Uri("http://7.7.7.7:7835")));
        Assert.Equal([LogLevel.Warning, LogLevel.Debug, LogLevel.Debug, LogLevel.Warning], log.Levels);
    }

    private sealed class LevelLog : ILogger<ClusterRegistry>
    {
        public List<LogLevel> Levels { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Levels.Add(logLevel);
    }

    [Fact]
    public void ReadyWhileStillConnecting_FromAnotherUrl_IsAlsoAConflict()
    {
        _registry.Ready(Ready(), HiveUrl);
        Assert.Equal(ReadyOutcome.Conflict, _registry.Ready(Ready("x", "http://6.6.6.6:7835"), new Uri("http://6.6.6.6:7835")));
    }

    [Fact]
    public void OfflineHiveFromAnotherUrl_IsReplaced_TheHiveMoved()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.StreamClosed("gpu-box", "i1", "refused");
        Assert.Equal(ReadyOutcome.Registered, _registry.Ready(Ready("i2", "http://10.0.0.6:7835"), new Uri("http://10.0.0.6:7835")));
        Assert.Equal(new Uri("http://10.0.0.6:7835"), Hive.HiveUrl);
    }

    [Fact]
    public void SameUrlNewInstance_IsARestart_ThatReplacesTheEntry_AndFramesOfTheOldInstanceAreIgnored()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080)));
        Assert.Equal(ReadyOutcome.Restarted, _registry.Ready(Ready("i2"), HiveUrl));
        Assert.Equal("i2", Hive.InstanceId);
        Assert.Single(_registry.Current.Hives);
        Assert.False(_registry.ApplyFrame(Frame(7, "i1")));
        DrainEvents();
        // The new instance numbers from 0 again, and re-adopted workers are not reported as new.
        Assert.True(_registry.ApplyFrame(Frame(0, "i2", Worker(8080))));
        Assert.Equal([StreamEvents.Telemetry], DrainEvents().Select(e => e.Name));
    }

    [Fact]
    public void SameInstanceAgain_IsAlreadyKnown_NoSecondSubscription()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0));
        Assert.Equal(ReadyOutcome.AlreadyKnown, _registry.Ready(Ready(), HiveUrl));
        Assert.Equal(HiveStates.Online, Hive.State);
    }

    [Fact]
    public void OldOrRepeatedSeq_IsIgnored()
    {
        _registry.Ready(Ready(), HiveUrl);
        Assert.True(_registry.ApplyFrame(Frame(5)));
        Assert.False(_registry.ApplyFrame(Frame(5)));
        Assert.False(_registry.ApplyFrame(Frame(3)));
        Assert.True(_registry.ApplyFrame(Frame(6)));
        Assert.Equal(6, Hive.LastSeq);
    }

    [Fact]
    public void OtherProtocol_IsListedIncompatibleWithReason_AndItsFramesAreIgnored()
    {
        Assert.Equal(ReadyOutcome.Incompatible, _registry.Ready(Ready(protocol: 2), HiveUrl));
        Assert.Equal(HiveStates.Incompatible, Hive.State);
        Assert.Contains("protocol 2", Hive.Reason);
        Assert.False(_registry.ApplyFrame(Frame(0)));
        var view = ClusterViews.View(_registry.Current, _clock.GetUtcNow());
        Assert.Equal(HiveStates.Incompatible, Assert.Single(view.Hives).State);
    }

    [Fact]
    public void StreamClosed_IsOfflineAtOnce_AndRemovesTheWorkers()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080), Worker(8081)));
        DrainEvents();
        _registry.StreamClosed("gpu-box", "i1", "stream closed");
        Assert.Equal(HiveStates.Offline, Hive.State);
        Assert.Empty(Hive.Workers);
        var events = DrainEvents();
        Assert.Equal(2, events.Count(e => e.Name == StreamEvents.WorkerRemoved));
        Assert.Single(events, e => e.Name == StreamEvents.HiveState && e.Data.GetProperty("new_state").GetString() == "offline");
    }

    [Fact]
    public void StreamClosedOfAStaleInstance_ChangesNothing()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0));
        _registry.Ready(Ready("i2"), HiveUrl);
        _registry.StreamClosed("gpu-box", "i1", "old stream closed");
        Assert.Equal(HiveStates.Online, Hive.State);
    }

    [Fact]
    public void WithoutFrames_DegradedAtExactly3s_OfflineAtExactly10s_ThenOnlineWithTheNextFrame()
    {
        var silenced = new List<string>();
        _registry.WentSilent += (id, _) => silenced.Add(id);
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080)));

        _clock.Advance(TimeSpan.FromMilliseconds(2999));
        _registry.Tick();
        Assert.Equal(HiveStates.Online, Hive.State);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        _registry.Tick();
        Assert.Equal(HiveStates.Degraded, Hive.State);
        Assert.Single(Hive.Workers);

        _clock.Advance(TimeSpan.FromMilliseconds(6999));
        _registry.Tick();
        Assert.Equal(HiveStates.Degraded, Hive.State);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        _registry.Tick();
        Assert.Equal(HiveStates.Offline, Hive.State);
        Assert.Empty(Hive.Workers);
        Assert.Equal(["gpu-box"], silenced);

        Assert.True(_registry.ApplyFrame(Frame(1, "i1", Worker(8080))));
        Assert.Equal(HiveStates.Online, Hive.State);
        var states = DrainEvents().Where(e => e.Name == StreamEvents.HiveState)
            .Select(e => e.Data.GetProperty("new_state").GetString()).ToList();
        Assert.Equal(["online", "degraded", "offline", "online"], states);
    }

    [Fact]
    public void WorkerStateChanges_AreEvents()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080, WorkerStates.Starting)));
        DrainEvents();
        _registry.ApplyFrame(Frame(1, "i1", Worker(8080, WorkerStates.Ready), Worker(8081, WorkerStates.Starting)));
        _registry.ApplyFrame(Frame(2, "i1", Worker(8081, WorkerStates.Starting)));
        Assert.Equal(
            [StreamEvents.Telemetry, StreamEvents.WorkerState, StreamEvents.WorkerAdded, StreamEvents.Telemetry, StreamEvents.WorkerRemoved],
            DrainEvents().Select(e => e.Name));
    }

    [Fact]
    public void RepeatedWorkers_AreOnlyTelemetry_AndReorderedWorkersAreNoChange()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080), Worker(8081)));
        DrainEvents();
        _registry.ApplyFrame(Frame(1, "i1", Worker(8080), Worker(8081)));
        _registry.ApplyFrame(Frame(2, "i1", Worker(8081), Worker(8080)));
        _registry.ApplyFrame(Frame(3, "i1", Worker(8081, WorkerStates.Stopping), Worker(8080)));
        Assert.Equal([StreamEvents.Telemetry, StreamEvents.Telemetry, StreamEvents.Telemetry, StreamEvents.WorkerState],
            DrainEvents().Select(e => e.Name));
    }

    [Fact]
    public void Snapshots_AreImmutable_AndVersioned()
    {
        _registry.Ready(Ready(), HiveUrl);
        var before = _registry.Current;
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080)));
        var after = _registry.Current;
        Assert.True(after.Version > before.Version);
        Assert.Equal(HiveStates.Offline, before.Find("gpu-box")!.State);
        Assert.Equal(HiveStates.Online, after.Find("gpu-box")!.State);
    }

    [Fact]
    public void ClusterView_GivesWorkersAUrlOnTheHivesHost()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080)));
        _clock.Advance(TimeSpan.FromMilliseconds(350));
        var hive = Assert.Single(ClusterViews.View(_registry.Current, _clock.GetUtcNow()).Hives);
        Assert.Equal("http://10.0.0.5:8080", Assert.Single(hive.Workers).Url);
        Assert.Equal(350, hive.LastFrameAgeMs);
        var json = JsonSerializer.Serialize(ClusterViews.View(_registry.Current, _clock.GetUtcNow()), RbeeJsonContext.Default.ClusterView);
        Assert.Contains("\"last_frame_age_ms\":350", json);
    }
}
