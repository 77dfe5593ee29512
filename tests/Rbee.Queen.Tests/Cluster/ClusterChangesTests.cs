using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;
using static Rbee.Queen.Tests.Cluster.ClusterFixtures;

namespace Rbee.Queen.Tests.Cluster;

/// <summary>The typed changes the registry publishes, one test per transition, and what a subscriber is promised.</summary>
public sealed class ClusterChangesTests
{
    private readonly Microsoft.Extensions.Time.Testing.FakeTimeProvider _clock = Clock();
    private readonly ClusterRegistry _registry;
    private readonly ClusterChangeSubscription _changes;

    public ClusterChangesTests()
    {
        _registry = Registry(_clock);
        _changes = _registry.Subscribe();
    }

    private HiveEntry Hive => _registry.Current.Find(HiveId)!;

    [Fact]
    public void Ready_IsAHiveStateChange_FromNothingToConnecting()
    {
        _registry.Ready(Ready(), HiveUrl);
        var change = Assert.IsType<HiveStateChange>(Assert.Single(_changes.Drain()));
        Assert.Equal(new HiveStateChange(_registry.Current.Version, HiveId, null, HiveState.Connecting, null, Start), change);
        Assert.Equal(Start, Hive.AcceptedAt);
        Assert.Null(Hive.StreamOpenedAt);
    }

    [Fact]
    public void FirstFrame_IsFrameApplied_ThenOnline_ThenEachWorkerAdded_AllOfOneVersion()
    {
        _registry.Ready(Ready(), HiveUrl);
        _changes.Drain();
        var frame = Frame(0, "i1", Worker(8080), Worker(8081, WorkerStates.Starting));
        byte[] json = [1, 2, 3];
        _registry.ApplyFrame(frame, json);
        var v = _registry.Current.Version;
        var changes = _changes.Drain();
        Assert.Collection(changes,
            c => Assert.Equal(new FrameApplied(v, HiveId, frame, json, Start), c),
            c => Assert.Equal(new HiveStateChange(v, HiveId, HiveState.Connecting, HiveState.Online, null, Start), c),
            c => Assert.Equal(new WorkerAdded(v, HiveId, frame.Workers[0], Start), c),
            c => Assert.Equal(new WorkerAdded(v, HiveId, frame.Workers[1], Start), c));
    }

    [Fact]
    public void WorkerState_AndPid_Changes_CarryOldAndNewState()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080, WorkerStates.Starting)));
        _changes.Drain();
        _clock.Advance(TimeSpan.FromSeconds(1));
        _registry.ApplyFrame(Frame(1, "i1", Worker(8080, WorkerStates.Ready)));
        _registry.ApplyFrame(Frame(2, "i1", Worker(8080, WorkerStates.Ready, pid: 77)));
        var states = _changes.Drain().OfType<WorkerStateChange>().ToList();
        Assert.Equal(2, states.Count);
        Assert.Equal((WorkerStates.Starting, WorkerStates.Ready, Start.AddSeconds(1)), (states[0].OldState, states[0].NewState, states[0].Timestamp));
        Assert.Equal((WorkerStates.Ready, WorkerStates.Ready, 77), (states[1].OldState, states[1].NewState, states[1].Worker.Pid));
    }

    [Fact]
    public void WorkerGoneFromTheFrame_IsWorkerRemoved_WithTheWorkerAsLastSeen()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080), Worker(8081)));
        _changes.Drain();
        _registry.ApplyFrame(Frame(1, "i1", Worker(8080)));
        var removed = Assert.IsType<WorkerRemoved>(Assert.Single(_changes.Drain(), c => c is not FrameApplied));
        Assert.Equal(Worker(8081), removed.Worker);
    }

    [Fact]
    public void Degraded_ThenOffline_ByTime_WorkersLeaveOnlyWhenOffline()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080)));
        _changes.Drain();
        _clock.Advance(TimeSpan.FromSeconds(3));
        _registry.Tick();
        var degraded = Assert.IsType<HiveStateChange>(Assert.Single(_changes.Drain()));
        Assert.Equal((HiveState.Online, HiveState.Degraded, "no frame for 3000 ms"), (degraded.OldState, degraded.NewState, degraded.Reason));
        _clock.Advance(TimeSpan.FromSeconds(7));
        _registry.Tick();
        Assert.Collection(_changes.Drain(),
            c => Assert.Equal(8080, Assert.IsType<WorkerRemoved>(c).Worker.Port),
            c => Assert.Equal((HiveState.Degraded, HiveState.Offline), (((HiveStateChange)c).OldState, ((HiveStateChange)c).NewState)));
    }

    [Fact]
    public void StreamClose_IsOfflineAtOnce_WithTheReason()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.StreamOpened(HiveId, "i1");
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080)));
        _changes.Drain();
        _registry.StreamClosed(HiveId, "i1", "stream closed");
        var changes = _changes.Drain();
        Assert.IsType<WorkerRemoved>(changes[0]);
        Assert.Equal(new HiveStateChange(_registry.Current.Version, HiveId, HiveState.Online, HiveState.Offline, "stream closed", Start), changes[1]);
        Assert.Null(Hive.StreamOpenedAt);
    }

    [Fact]
    public void ConnectingHiveWithoutAFrame_IsOfflineAfterOfflineAfter_FromTheReady_AndItsLinkIsDropped()
    {
        var silenced = new List<(string, string)>();
        _registry.WentSilent += (id, instance) => silenced.Add((id, instance));
        _registry.Ready(Ready(), HiveUrl);
        _changes.Drain();
        _clock.Advance(TimeSpan.FromMilliseconds(9999));
        _registry.Tick();
        Assert.Equal(HiveState.Connecting, Hive.State);
        Assert.Empty(silenced);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        _registry.Tick();
        Assert.Equal(HiveState.Offline, Hive.State);
        Assert.Equal("no first frame 10000 ms after the ready", Hive.Reason);
        Assert.Equal([(HiveId, "i1")], silenced);
        var change = Assert.IsType<HiveStateChange>(Assert.Single(_changes.Drain()));
        Assert.Equal((HiveState.Connecting, HiveState.Offline), (change.OldState, change.NewState));
    }

    [Fact]
    public void ConnectingHive_CountsFromTheStreamOpening_WhenItOpened()
    {
        _registry.Ready(Ready(), HiveUrl);
        _clock.Advance(TimeSpan.FromSeconds(4));
        _registry.StreamOpened(HiveId, "i1");
        Assert.Equal(Start.AddSeconds(4), Hive.StreamOpenedAt);
        _clock.Advance(TimeSpan.FromMilliseconds(9999));
        _registry.Tick();
        Assert.Equal(HiveState.Connecting, Hive.State);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        _registry.Tick();
        Assert.Equal(HiveState.Offline, Hive.State);
        Assert.Equal("no first frame 10000 ms after the stream opened", Hive.Reason);
    }

    [Fact]
    public void OfflineHiveWhoseStreamReopens_IsConnectingAgain_ThenOnlineWithItsFrame()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.StreamClosed(HiveId, "i1", "refused");
        _changes.Drain();
        _registry.StreamOpened(HiveId, "i1");
        _registry.ApplyFrame(Frame(0));
        Assert.Equal(
            [(HiveState.Offline, HiveState.Connecting), (HiveState.Connecting, HiveState.Online)],
            _changes.Drain().OfType<HiveStateChange>().Select(c => ((HiveState)c.OldState!, c.NewState)));
    }

    [Fact]
    public async Task ChangesOfOneWrite_ArriveInOrder_AndVersionsNeverGoBack_AcrossWriters()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.Ready(Ready(hiveId: "other", url: "http://10.0.0.9:7835"), new Uri("http://10.0.0.9:7835"));
        // Two writers at once: every subscriber sees the changes in version order, each frame's changes together.
        var frames = 500;
        var a = Task.Run(() => { for (var i = 0; i < frames; i++) _registry.ApplyFrame(Frame(i, "i1", Worker(8080 + i % 2))); });
        var b = Task.Run(() =>
        {
            for (var i = 0; i < frames; i++)
                _registry.ApplyFrame(new TelemetryFrame("other", "i1", i, DateTimeOffset.UnixEpoch, new NodeStats(1, 1, 1, []), [Worker(9000 + i % 2)]));
        });
        await Task.WhenAll(a, b);
        var changes = _changes.Drain();
        Assert.Equal(0, _changes.Dropped);
        for (var i = 1; i < changes.Count; i++) Assert.True(changes[i].Version >= changes[i - 1].Version, $"change {i} went back in version");
        Assert.Equal(2 * frames, changes.Count(c => c is FrameApplied));
        Assert.Equal(_registry.Current.Version, changes[^1].Version);
    }

    [Fact]
    public void Subscriber_SeesOnlyChangesAfterItSubscribed()
    {
        _registry.Ready(Ready(), HiveUrl);
        using var late = _registry.Subscribe();
        _registry.ApplyFrame(Frame(0));
        var changes = late.Drain();
        Assert.IsType<FrameApplied>(changes[0]);
        Assert.All(changes, c => Assert.Equal(_registry.Current.Version, c.Version));
    }

    [Fact]
    public void SlowSubscriber_LosesItsOldestChanges_AndCountsThem_OthersLoseNothing()
    {
        using var slow = _registry.Subscribe(capacity: 2);
        _registry.Ready(Ready(), HiveUrl);
        for (var i = 0; i < 5; i++) _registry.ApplyFrame(Frame(i));
        Assert.Equal(5, slow.Dropped);
        var kept = slow.Drain();
        Assert.Equal([3L, 4L], kept.Select(c => ((FrameApplied)c).Frame.Seq));
        Assert.Equal(7, _changes.Drain().Count);
    }

    [Fact]
    public void WithoutSubscribers_NothingIsQueued_AndADisposedSubscriptionIsCompleted()
    {
        _changes.Dispose();
        Assert.False(_registry.HasSubscribers);
        Assert.True(_changes.Reader.Completion.IsCompleted);
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080)));
        using var next = _registry.Subscribe();
        Assert.True(_registry.HasSubscribers);
        Assert.Empty(next.Drain());
    }
}
