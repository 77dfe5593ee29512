using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Rbee.Contracts.Wire;
using Rbee.Queen.Audit;
using Rbee.Queen.Scheduling;

namespace Rbee.Queen.Tests.Scheduling;

public sealed class SchedulerTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch.AddDays(100));
    private readonly TestCluster _cluster = new();
    private readonly SchedulingOptions _options = new() { MaxInFlightPerWorker = 1, MaxQueued = 3, MaxWait = TimeSpan.FromSeconds(30) };
    private readonly FakeColdStarter _starter = new();
    private readonly WorkerLoads _loads;
    private readonly Scheduler _scheduler;

    public SchedulerTests()
    {
        _loads = new WorkerLoads(_options, _time);
        _scheduler = new Scheduler(new ModelIndex(() => _cluster.Snapshot, _options), _loads, new LeastRequestsPolicy(), _starter, _options, _time,
            NullLogger<Scheduler>.Instance);
    }

    private Task<WorkerLease> Acquire(string model = "m", bool retry = false, CancellationToken ct = default, RecordingObserver? observer = null,
        Actor? requester = null) =>
        _scheduler.AcquireAsync(model, observer, retry, _options.MaxWait, ct, requester: requester);

    /// <summary>Records what a waiting request is told.</summary>
    public sealed class RecordingObserver : IWaitObserver
    {
        public List<string> Notes { get; } = [];
        public void Queued(int position) { lock (Notes) Notes.Add($"queued {position}"); }
        public void SpawnStarted(string hiveId, string device) { lock (Notes) Notes.Add($"spawn {hiveId} {device}"); }
        public void WorkerSpawned(string hiveId, int port) { lock (Notes) Notes.Add($"spawned {hiveId} {port}"); }
        public void SpawnProgress(string hiveId, string text) { lock (Notes) Notes.Add($"progress {text}"); }
    }

    /// <summary>A cold start the test finishes by hand (the real one talks to hives).</summary>
    public sealed class FakeColdStarter : IColdStarter
    {
        public int Starts;
        public TaskCompletionSource Finish { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>When set, the start reports the worker's process started on this port (the hive's "spawned" event).</summary>
        public int? SpawnedPort { get; set; }

        /// <summary>Who the scheduler said asked for the last start (the audit log's actor).</summary>
        public Actor? Requester { get; private set; }

        public async Task StartAsync(ModelPresence model, Actor requester, IWaitObserver progress, CancellationToken ct)
        {
            Requester = requester;
            Interlocked.Increment(ref Starts);
            progress.SpawnStarted("a", "cpu");
            if (SpawnedPort is { } port) progress.WorkerSpawned("a", port);
            Started.TrySetResult();
            await Finish.Task;
        }
    }

    [Fact]
    public async Task AReadyWorkerWithRoom_IsTakenAtOnce()
    {
        _cluster.Hive("a", workers: [TestCluster.Worker(8080, "m")]);
        var lease = await Acquire();
        Assert.Equal("http://a.lan:8080", lease.Url);
        Assert.Equal(1, _loads.InFlight(lease.Key));
        lease.Release(RequestOutcome.Success);
        lease.Release(RequestOutcome.Success); // a second release changes nothing
        Assert.Equal(0, _loads.InFlight(lease.Key));
    }

    /// <summary>A discovery window the test opens, closes and changes by hand.</summary>
    private sealed class ScriptedWindow : IDiscoveryWindow
    {
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TimeSpan Remaining { get; set; } = TimeSpan.FromSeconds(10);
        public int Waits;

        public async Task WaitForChangeAsync(TimeSpan timeout, CancellationToken ct)
        {
            Interlocked.Increment(ref Waits);
            await _changed.Task.WaitAsync(ct);
        }

        public void Changed()
        {
            var old = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
            old.TrySetResult();
        }
    }

    private Scheduler WithWindow(IDiscoveryWindow window) => new(new ModelIndex(() => _cluster.Snapshot, _options), _loads,
        new LeastRequestsPolicy(), _starter, _options, _time, NullLogger<Scheduler>.Instance, discovery: window);

    [Fact]
    public async Task WhileTheQueenIsStillLearningItsHives_AnUnknownModelWaits_AndIsServedWhenItsHiveArrives()
    {
        var window = new ScriptedWindow();
        var scheduler = WithWindow(window);
        var waiting = scheduler.AcquireAsync("m", null, false, _options.MaxWait, CancellationToken.None);
        await Eventually(() => window.Waits == 1);
        Assert.False(waiting.IsCompleted);

        _cluster.Hive("a", workers: [TestCluster.Worker(8080, "m")]);
        window.Changed();
        var lease = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("http://a.lan:8080", lease.Url);
        lease.Release(RequestOutcome.Success);
    }

    [Fact]
    public async Task AnUnknownModel_Is404_OnceTheWindowCloses_AndAtOnceWhenItIsClosed()
    {
        var window = new ScriptedWindow();
        var scheduler = WithWindow(window);
        var waiting = scheduler.AcquireAsync("nope", null, false, _options.MaxWait, CancellationToken.None);
        await Eventually(() => window.Waits == 1);
        _cluster.Hive("a", workers: [TestCluster.Worker(8080, "m")]);
        window.Remaining = TimeSpan.Zero;
        window.Changed();
        var e = await Assert.ThrowsAsync<SchedulingException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal((404, "model_not_found"), (e.Status, e.Code));

        e = await Assert.ThrowsAsync<SchedulingException>(() => scheduler.AcquireAsync("nope", null, false, _options.MaxWait, CancellationToken.None));
        Assert.Equal((404, "model_not_found"), (e.Status, e.Code));
        Assert.Equal(1, window.Waits);
    }

    private static async Task Eventually(Func<bool> condition)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition()) await Task.Delay(5, limit.Token);
    }

    [Fact]
    public async Task AModelNoOnlineHiveHas_Is404_AndOneOnlyADegradedHiveHas_Is503()
    {
        _cluster.Hive("a", workers: [TestCluster.Worker(8080, "m")]);
        var e = await Assert.ThrowsAsync<SchedulingException>(() => Acquire("other"));
        Assert.Equal((404, "model_not_found"), (e.Status, e.Code));
        _cluster.Hive("b", state: HiveState.Degraded, workers: [TestCluster.Worker(8080, "other")]);
        e = await Assert.ThrowsAsync<SchedulingException>(() => Acquire("other"));
        Assert.Equal((503, "model_unavailable"), (e.Status, e.Code));
        // When a degraded hive comes back cannot be measured: no Retry-After rather than a made-up one.
        Assert.Null(e.RetryAfterSeconds);
        Assert.Equal(0, _starter.Starts);
    }

    [Fact]
    public async Task WaitingRequests_AreServedFirstComeFirstServed_AsTheWorkerFreesUp()
    {
        _cluster.Hive("a", workers: [TestCluster.Worker(8080, "m")]);
        var first = await Acquire();
        var o2 = new RecordingObserver();
        var o3 = new RecordingObserver();
        var second = Acquire(observer: o2);
        var third = Acquire(observer: o3);
        Assert.False(second.IsCompleted);
        Assert.Equal(["queued 1"], o2.Notes);
        Assert.Equal(["queued 2"], o3.Notes);
        Assert.Equal(2, _scheduler.QueueLength("m"));

        first.Release(RequestOutcome.Success);
        var lease2 = await second;
        Assert.False(third.IsCompleted);
        Assert.Equal(["queued 2", "queued 1"], o3.Notes);
        lease2.Release(RequestOutcome.Success);
        (await third).Release(RequestOutcome.Success);
        Assert.Equal(0, _scheduler.QueueLength("m"));
    }

    [Fact]
    public async Task AFullQueue_Answers429_WithRetryAfterFromTheMeasuredRate()
    {
        _cluster.Hive("a", workers: [TestCluster.Worker(8080, "m")]);
        // Measure a rate: completions one second apart.
        for (var i = 0; i < 3; i++)
        {
            (await Acquire()).Release(RequestOutcome.Success);
            _time.Advance(TimeSpan.FromSeconds(1));
        }
        var busy = await Acquire();
        var waiting = Enumerable.Range(0, 3).Select(_ => Acquire()).ToList();
        var e = await Assert.ThrowsAsync<SchedulingException>(() => Acquire());
        Assert.Equal((429, "queue_full"), (e.Status, e.Code));
        // 3 completions, the first 3 s ago: 2 intervals in 3 s = 2/3 per second; 4 requests ahead of a new one → 6 s.
        Assert.Equal(6, e.RetryAfterSeconds);
        Assert.Contains("3 requests already wait", e.Message);
        busy.Release(RequestOutcome.Success);
        foreach (var w in waiting) (await w).Release(RequestOutcome.Success);
    }

    [Fact]
    public async Task ARequestThatWaitsPastMaxWait_Gets503_AndLeavesTheQueue()
    {
        _cluster.Hive("a", workers: [TestCluster.Worker(8080, "m")]);
        var busy = await Acquire();
        var waiting = Acquire();
        _time.Advance(_options.MaxWait);
        var e = await Assert.ThrowsAsync<SchedulingException>(() => waiting);
        Assert.Equal((503, "wait_timeout"), (e.Status, e.Code));
        Assert.Contains("queue position 1", e.Message);
        // No completion measured: the wait itself (MaxWait, 30 s) stands in for the rate.
        Assert.Equal(30, e.RetryAfterSeconds);
        Assert.Equal(0, _scheduler.QueueLength("m"));
        busy.Release(RequestOutcome.Success);
    }

    [Fact]
    public async Task ACancelledWait_LeavesTheQueue_AndTheNextRequestMovesUp()
    {
        _cluster.Hive("a", workers: [TestCluster.Worker(8080, "m")]);
        var busy = await Acquire();
        using var cts = new CancellationTokenSource();
        var leaving = Acquire(ct: cts.Token);
        var o = new RecordingObserver();
        var staying = Acquire(observer: o);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving);
        Assert.Equal(["queued 2", "queued 1"], o.Notes);
        busy.Release(RequestOutcome.Success);
        (await staying).Release(RequestOutcome.Success);
    }

    [Fact]
    public async Task ARetry_GoesToTheFrontOfTheQueue()
    {
        _cluster.Hive("a", workers: [TestCluster.Worker(8080, "m")]);
        var busy = await Acquire();
        var waiting = Acquire();
        var retry = Acquire(retry: true);
        busy.Release(RequestOutcome.Busy);
        _time.Advance(WorkerLoads.BusyBackoff);
        _scheduler.PumpAll();
        var lease = await retry;
        Assert.False(waiting.IsCompleted);
        lease.Release(RequestOutcome.Success);
        (await waiting).Release(RequestOutcome.Success);
    }

    [Fact]
    public async Task ConcurrentRequestsForAColdModel_StartOneWorker_AndAllGetIt()
    {
        _options.MaxQueued = 64;
        _cluster.Hive("a", models: [TestCluster.Model("cold")]);
        var observers = Enumerable.Range(0, 5).Select(_ => new RecordingObserver()).ToList();
        var requests = observers.Select((o, i) => Acquire("cold", observer: o, requester: Actor.ApiKey($"caller-{i}"))).ToList();
        await _starter.Started.Task;
        Assert.Equal(1, _starter.Starts);
        // The one start is the first requester's, for the audit log.
        Assert.Equal(Actor.ApiKey("caller-0"), _starter.Requester);
        Assert.All(requests, r => Assert.False(r.IsCompleted));
        Assert.All(observers, o => Assert.Contains("spawn a cpu", o.Notes));

        // The worker appears ready in the view; the pump hands it out in order, one at a time (MaxInFlightPerWorker 1).
        _cluster.Hive("a", models: [TestCluster.Model("cold")], workers: [TestCluster.Worker(8080, "cold")]);
        _starter.Finish.TrySetResult();
        foreach (var r in requests)
        {
            var lease = await r;
            Assert.Equal(8080, lease.Key.Port);
            lease.Release(RequestOutcome.Success);
        }
        Assert.Equal(1, _starter.Starts);
    }

    [Fact]
    public async Task AFailedColdStart_FailsEveryWaitingRequestWithItsReason()
    {
        _cluster.Hive("a", models: [TestCluster.Model("cold")]);
        var requests = Enumerable.Range(0, 3).Select(_ => Acquire("cold")).ToList();
        await _starter.Started.Task;
        _starter.Finish.TrySetException(SchedulingException.Unavailable("insufficient_memory", "model 'cold' needs 5.1 GiB; largest free 3.2 GiB on a cpu"));
        foreach (var r in requests)
        {
            var e = await Assert.ThrowsAsync<SchedulingException>(() => r);
            Assert.Equal((503, "insufficient_memory"), (e.Status, e.Code));
        }
    }

    [Fact]
    public async Task RequestsSpreadOverTwoWorkers_AndAnEjectedWorkerIsSkipped()
    {
        _options.MaxInFlightPerWorker = 4;
        _cluster.Hive("a", workers: [TestCluster.Worker(8080, "m"), TestCluster.Worker(8081, "m")]);
        var leases = new List<WorkerLease>();
        for (var i = 0; i < 8; i++) leases.Add(await Acquire());
        Assert.Equal(4, leases.Count(l => l.Key.Port == 8080));
        Assert.Equal(4, leases.Count(l => l.Key.Port == 8081));
        foreach (var l in leases) l.Release(l.Key.Port == 8080 ? RequestOutcome.Failure : RequestOutcome.Success, "reset");
        Assert.NotNull(_loads.Find(leases.First(l => l.Key.Port == 8080).Key)!.EjectedUntil);
        for (var i = 0; i < 3; i++)
        {
            var lease = await Acquire();
            Assert.Equal(8081, lease.Key.Port);
            lease.Release(RequestOutcome.Success);
        }
    }

    [Fact]
    public async Task AWorkerOfAHiveThatWentOffline_IsNoCandidate_TheOtherHiveServes()
    {
        _cluster.Hive("a", workers: [TestCluster.Worker(8080, "m")]).Hive("b", workers: [TestCluster.Worker(8090, "m")]);
        _cluster.Hive("a", state: HiveState.Offline, workers: []);
        for (var i = 0; i < 3; i++)
        {
            var lease = await Acquire();
            Assert.Equal("b", lease.HiveId);
            lease.Release(RequestOutcome.Success);
        }
    }

    [Fact]
    public async Task WaitingRequestsWhoseWorkerDisappears_GetANewWorkerStarted()
    {
        _cluster.Hive("a", models: [TestCluster.Model("m")], workers: [TestCluster.Worker(8080, "m")]);
        var busy = await Acquire();
        var waiting = Acquire();
        // The only worker crashes (or is stopped as idle) while a request waits for it; the model is still on disk.
        _cluster.Hive("a", models: [TestCluster.Model("m")], workers: []);
        _scheduler.PumpAll();
        await _starter.Started.Task;
        Assert.Equal(1, _starter.Starts);
        _cluster.Hive("a", models: [TestCluster.Model("m")], workers: [TestCluster.Worker(8081, "m")]);
        _starter.Finish.TrySetResult();
        var lease = await waiting;
        Assert.Equal(8081, lease.Key.Port);
        lease.Release(RequestOutcome.Success);
        busy.Release(RequestOutcome.Cancelled);
    }

    [Fact]
    public async Task AWorkerHandedToARequestWhoseClientLeftInThatInstant_IsGivenBack()
    {
        _cluster.Hive("a", workers: [TestCluster.Worker(8080, "m")]);
        var busy = await Acquire();
        using var leaves = new CancellationTokenSource();
        var waiting = Acquire(ct: leaves.Token);
        // Cancel first, then hand the worker over before the waiter observes the cancellation.
        leaves.Cancel();
        busy.Release(RequestOutcome.Success);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(0, _loads.InFlight(busy.Key));
    }

    [Fact]
    public void AQueueOfNothing_IsRefusedAtStartUp()
    {
        Assert.Contains("MaxQueued", new SchedulingOptions { MaxQueued = 0 }.Validate());
    }
}
