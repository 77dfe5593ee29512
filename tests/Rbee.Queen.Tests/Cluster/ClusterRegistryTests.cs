using System.Text.Json;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;
using static Rbee.Queen.Tests.Cluster.ClusterFixtures;

namespace Rbee.Queen.Tests.Cluster;

public sealed class ClusterRegistryTests
{
    private readonly Microsoft.Extensions.Time.Testing.FakeTimeProvider _clock = Clock();
    private readonly ClusterRegistry _registry;
    private readonly ClusterChangeSubscription _changes;

    public ClusterRegistryTests()
    {
        _registry = Registry(_clock);
        _changes = _registry.Subscribe();
    }

    private List<(string Name, JsonElement Data)> DrainEvents() => _changes.Drain().AsStreamEvents();

    private HiveEntry Hive => _registry.Current.Find(HiveId)!;

    [Fact]
    public void FirstReady_IsConnecting_AndTheFirstFrameMakesTheHiveOnline()
    {
        Assert.Equal(ReadyOutcome.Registered, _registry.Ready(Ready(), HiveUrl));
        Assert.Equal(HiveState.Connecting, Hive.State);
        Assert.Null(Hive.Reason);
        Assert.True(Hive.IsLive);
        Assert.True(_registry.ApplyFrame(Frame(0, "i1", Worker(8080))));
        Assert.Equal(HiveState.Online, Hive.State);
        var events = DrainEvents();
        Assert.Equal([StreamEvents.HiveState, StreamEvents.Telemetry, StreamEvents.HiveState, StreamEvents.WorkerAdded], events.Select(e => e.Name));
        Assert.Equal(JsonValueKind.Null, events[0].Data.GetProperty("old_state").ValueKind);
        Assert.Equal("connecting", events[0].Data.GetProperty("new_state").GetString());
        Assert.Equal("connecting", events[2].Data.GetProperty("old_state").GetString());
        Assert.Equal("online", events[2].Data.GetProperty("new_state").GetString());
    }

    [Fact]
    public void ReadyForLiveHiveFromAnotherUrl_IsAConflict_AndChangesNothing()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0));
        var version = _registry.Current.Version;
        _changes.Drain();
        Assert.Equal(ReadyOutcome.Conflict, _registry.Ready(Ready("forged", "http://6.6.6.6:7835"), new Uri("http://6.6.6.6:7835")));
        Assert.Equal(version, _registry.Current.Version);
        Assert.Equal(("i1", HiveUrl), (Hive.InstanceId, Hive.HiveUrl));
        Assert.Empty(_changes.Drain());
    }

    [Fact]
    public void RepeatedConflict_IsOneWarning_AnotherUrlIsANewOne()
    {
        var log = new LevelLog();
        var registry = Registry(_clock, log);
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
        _registry.StreamClosed(HiveId, "i1", "refused");
        Assert.Equal(HiveState.Offline, Hive.State);
        Assert.Equal(ReadyOutcome.Registered, _registry.Ready(Ready("i2", "http://10.0.0.6:7835"), new Uri("http://10.0.0.6:7835")));
        Assert.Equal(new Uri("http://10.0.0.6:7835"), Hive.HiveUrl);
        Assert.Equal(HiveState.Connecting, Hive.State);
    }

    [Fact]
    public void SameUrlNewInstance_IsARestart_ThatReplacesTheEntry_AndFramesOfTheOldInstanceAreIgnored()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080)));
        _registry.SetCatalog(HiveId, Catalog(3));
        Assert.Equal(ReadyOutcome.Restarted, _registry.Ready(Ready("i2"), HiveUrl));
        Assert.Equal("i2", Hive.InstanceId);
        // The old instance's catalog stands until the new one's arrives, but it is not the new instance's version.
        Assert.Equal("i1", Hive.Catalog!.InstanceId);
        Assert.Null(Hive.CatalogVersion);
        var catalog = Catalog(0) with { InstanceId = "i2" };
        Assert.True(_registry.SetCatalog(HiveId, catalog));
        Assert.Equal(0, Hive.CatalogVersion);
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
        Assert.Equal(HiveState.Online, Hive.State);
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
        Assert.Equal(HiveState.Incompatible, Hive.State);
        Assert.Contains("protocol 2", Hive.Reason);
        Assert.False(_registry.ApplyFrame(Frame(0)));
        var view = ClusterViews.View(_registry.Current, _clock.GetUtcNow());
        Assert.Equal(HiveState.Incompatible, Assert.Single(view.Hives).State);
        Assert.Contains("\"state\":\"incompatible\"", JsonSerializer.Serialize(view, RbeeJsonContext.Default.ClusterView));
    }

    [Fact]
    public void StreamClosed_IsOfflineAtOnce_AndRemovesTheWorkers()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080), Worker(8081)));
        DrainEvents();
        _registry.StreamClosed(HiveId, "i1", "stream closed");
        Assert.Equal(HiveState.Offline, Hive.State);
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
        _registry.StreamClosed(HiveId, "i1", "old stream closed");
        Assert.Equal(HiveState.Online, Hive.State);
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
        Assert.Equal(HiveState.Online, Hive.State);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        _registry.Tick();
        Assert.Equal(HiveState.Degraded, Hive.State);
        Assert.Single(Hive.Workers);

        _clock.Advance(TimeSpan.FromMilliseconds(6999));
        _registry.Tick();
        Assert.Equal(HiveState.Degraded, Hive.State);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        _registry.Tick();
        Assert.Equal(HiveState.Offline, Hive.State);
        Assert.Empty(Hive.Workers);
        Assert.Equal([HiveId], silenced);

        Assert.True(_registry.ApplyFrame(Frame(1, "i1", Worker(8080))));
        Assert.Equal(HiveState.Online, Hive.State);
        var states = DrainEvents().Where(e => e.Name == StreamEvents.HiveState)
            .Select(e => e.Data.GetProperty("new_state").GetString()).ToList();
        Assert.Equal(["connecting", "online", "degraded", "offline", "online"], states);
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
        Assert.Equal(HiveState.Connecting, before.Find(HiveId)!.State);
        Assert.Equal(HiveState.Online, after.Find(HiveId)!.State);
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
        Assert.Contains("\"state\":\"online\"", json);
    }

    [Fact]
    public void Catalog_IsKeptForItsInstance_NewerVersionsOnly()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0));
        _changes.Drain();
        Assert.True(_registry.SetCatalog(HiveId, Catalog(2)));
        Assert.False(_registry.SetCatalog(HiveId, Catalog(2)));
        Assert.False(_registry.SetCatalog(HiveId, Catalog(1)));
        Assert.False(_registry.SetCatalog(HiveId, Catalog(9, instance: "i0")));
        Assert.False(_registry.SetCatalog("other", Catalog(9, hiveId: "other")));
        Assert.Equal(2, Hive.Catalog!.Version);
        var change = Assert.IsType<CatalogChanged>(Assert.Single(_changes.Drain()));
        Assert.Equal((HiveId, 2L), (change.HiveId, change.Catalog.Version));
        // The catalog is not an event of the aggregate stream.
        Assert.Null(Rbee.Queen.Telemetry.ClusterEventHub.ToEvent(change));
    }

    [Fact]
    public void CatalogOfTheOldInstance_ArrivingAfterARestart_IsDropped()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0));
        _registry.Ready(Ready("i2"), HiveUrl);
        Assert.False(_registry.SetCatalog(HiveId, Catalog(5, instance: "i1")));
        Assert.Null(Hive.Catalog);
        Assert.True(_registry.SetCatalog(HiveId, Catalog(1, instance: "i2")));
    }
}
