using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Rbee.Contracts.Wire;
using Rbee.Queen.Routing;
using Rbee.Queen.Scheduling;
using Rbee.Queen.Telemetry;
using Rbee.Queen.Tests.Cluster;
using Rbee.Queen.Tests.Scheduling;

namespace Rbee.Queen.Tests.Routing;

/// <summary>The request path's decisions (retry, wait, give up, always give the worker back) with a scripted client.</summary>
public sealed class InferencePipelineTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch.AddDays(100));
    private readonly TestCluster _cluster = new();
    private readonly SchedulingOptions _options = new() { MaxInFlightPerWorker = 1, MaxRetries = 2 };
    private readonly WorkerLoads _loads;
    private readonly Scheduler _scheduler;
    private readonly InferencePipeline _pipeline;
    private readonly SchedulerTests.FakeColdStarter _starter = new();
    private readonly ClusterEventHub _events = new(ClusterFixtures.Registry(ClusterFixtures.Clock()));

    public InferencePipelineTests()
    {
        _loads = new WorkerLoads(_options, _time);
        _scheduler = new Scheduler(new ModelIndex(() => _cluster.Snapshot, _options), _loads, new LeastRequestsPolicy(),
            _starter, _options, _time, NullLogger<Scheduler>.Instance);
        _pipeline = new InferencePipeline(_scheduler, _options, _time);
        _cluster.Hive("a", workers: [TestCluster.Worker(8080, "m")]).Hive("b", workers: [TestCluster.Worker(8080, "m")]);
    }

    /// <summary>Answers each attempt from a script: a status, a thrown failure, or a delivery outcome.</summary>
    private sealed class ScriptedClient(params Func<WorkerLease, (HttpStatusCode? Status, Exception? Send, DeliveryOutcome Outcome)>[] script) : IInferenceClient
    {
        private int _attempt;
        private DeliveryOutcome _outcome;
        public List<string> Workers { get; } = [];
        public (int Status, string Code)? Failure { get; private set; }
        public bool Streaming => false;
        public ValueTask WaitingLongAsync(CancellationToken ct) => ValueTask.CompletedTask;
        public ValueTask ProgressAsync(string line, CancellationToken ct) => ValueTask.CompletedTask;

        public Task<HttpResponseMessage> SendAsync(WorkerLease lease, CancellationToken ct)
        {
            Workers.Add(lease.HiveId);
            var (status, send, outcome) = script[Math.Min(_attempt++, script.Length - 1)](lease);
            _outcome = outcome;
            if (send is not null) return Task.FromException<HttpResponseMessage>(send);
            return Task.FromResult(new HttpResponseMessage(status ?? HttpStatusCode.OK) { Content = new StringContent("{}") });
        }

        public ValueTask<Delivery> DeliverAsync(HttpResponseMessage upstream, WorkerLease lease, RequestTimeline timeline, WorkerDeadline deadline)
        {
            return _outcome == (DeliveryOutcome)(-1) ? throw new InvalidOperationException("bug in delivery") : ValueTask.FromResult(new Delivery(_outcome, "cut"));
        }

        public ValueTask FailAsync(int status, ErrorResponse error, int? retryAfterSeconds, CancellationToken ct)
        {
            Failure = (status, error.Error.Code);
            return ValueTask.CompletedTask;
        }
    }

    private static (HttpStatusCode?, Exception?, DeliveryOutcome) Refused(WorkerLease _) => (null, new HttpRequestException("Connection refused"), default);
    private static (HttpStatusCode?, Exception?, DeliveryOutcome) Ok(WorkerLease _) => (HttpStatusCode.OK, null, DeliveryOutcome.Delivered);

    private Task RunAsync(IInferenceClient client) =>
        _pipeline.RunAsync("m", client, new RequestTimeline(_events, _time, NullLogger.Instance, "r1", "/v1/completions"), Rbee.Queen.Audit.Actor.LocalCaller, CancellationToken.None);

    /// <summary>The phases the timeline of request <paramref name="id"/> published so far, in order.</summary>
    private static List<string> Phases(ClusterEventHub.Subscription events, string id)
    {
        var phases = new List<string>();
        while (events.Reader.TryRead(out var e))
        {
            if (e.Name != StreamEvents.Request) continue;
            using var json = System.Text.Json.JsonDocument.Parse(e.Json);
            if (json.RootElement.GetProperty("request_id").GetString() == id) phases.Add(json.RootElement.GetProperty("phase").GetString()!);
        }
        return phases;
    }

    private int InFlight() => _loads.InFlight(new WorkerKey("a", 8080, 9080)) + _loads.InFlight(new WorkerKey("b", 8080, 9080));

    [Fact]
    public async Task AFailureBeforeTheFirstByte_IsRetriedOnTheOtherWorker()
    {
        var client = new ScriptedClient(Refused, Ok);
        await RunAsync(client);
        Assert.Null(client.Failure);
        Assert.Equal(2, client.Workers.Distinct().Count());
        Assert.Equal(0, InFlight());
    }

    [Fact]
    public async Task AfterMaxRetries_TheClientGets502()
    {
        var client = new ScriptedClient(Refused);
        await RunAsync(client);
        Assert.Equal((502, "worker_failed"), client.Failure);
        Assert.Equal(1 + _options.MaxRetries, client.Workers.Count);
        Assert.Equal(0, InFlight());
    }

    [Fact]
    public async Task A5xx_IsAFailure_ButAWorkersOwn503IsOnlyAWait()
    {
        var client = new ScriptedClient(_ => (HttpStatusCode.InternalServerError, null, default), Ok);
        await RunAsync(client);
        Assert.Null(client.Failure);
        Assert.Equal(1, _loads.Find(new WorkerKey(client.Workers[0], 8080, 9080))!.ConsecutiveFailures);

        var before = new[] { "a", "b" }.Select(h => _loads.Find(new WorkerKey(h, 8080, 9080))?.ConsecutiveFailures ?? 0).ToList();
        var busy = new ScriptedClient(_ => (HttpStatusCode.ServiceUnavailable, null, default), Ok);
        await RunAsync(busy);
        Assert.Null(busy.Failure);
        Assert.Equal(before, new[] { "a", "b" }.Select(h => _loads.Find(new WorkerKey(h, 8080, 9080))?.ConsecutiveFailures ?? 0));
    }

    [Fact]
    public async Task AFailureMidAnswer_IsNotRetried_AndTheWorkerIsGivenBack()
    {
        var client = new ScriptedClient(_ => (HttpStatusCode.OK, null, DeliveryOutcome.FailedAfterFirstByte));
        await RunAsync(client);
        Assert.Single(client.Workers);
        Assert.Equal(0, InFlight());
    }

    [Fact]
    public async Task AnExceptionWhileDelivering_StillGivesTheWorkerBack()
    {
        var client = new ScriptedClient(_ => (HttpStatusCode.OK, null, (DeliveryOutcome)(-1)));
        await Assert.ThrowsAsync<InvalidOperationException>(() => RunAsync(client));
        Assert.Equal(0, InFlight());
    }

    /// <summary>A worker body that never arrives: reads wait until cancelled.</summary>
    private sealed class StalledStream : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            await Task.Delay(Timeout.Infinite, ct);
            return 0;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class StalledErrorClient : IInferenceClient
    {
        public TaskCompletionSource Sent { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Streaming => false;
        public ValueTask WaitingLongAsync(CancellationToken ct) => ValueTask.CompletedTask;
        public ValueTask ProgressAsync(string line, CancellationToken ct) => ValueTask.CompletedTask;
        public Task<HttpResponseMessage> SendAsync(WorkerLease lease, CancellationToken ct)
        {
            Sent.TrySetResult();
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.InternalServerError) { Content = new StreamContent(new StalledStream()) });
        }
        public ValueTask<Delivery> DeliverAsync(HttpResponseMessage upstream, WorkerLease lease, RequestTimeline timeline, WorkerDeadline deadline) =>
            throw new InvalidOperationException("a 5xx is not delivered");
        public ValueTask FailAsync(int status, ErrorResponse error, int? retryAfterSeconds, CancellationToken ct) => ValueTask.CompletedTask;
    }

    [Fact]
    public async Task AClientThatLeavesWhileAWorkersErrorIsRead_StillGivesTheWorkerBack()
    {
        var client = new StalledErrorClient();
        using var leaves = new CancellationTokenSource();
        var run = _pipeline.RunAsync("m", client, new RequestTimeline(_events, _time, NullLogger.Instance, "r1", "/v1/completions"), Rbee.Queen.Audit.Actor.LocalCaller, leaves.Token);
        await client.Sent.Task;
        Assert.Equal(1, InFlight());
        await leaves.CancelAsync();
        await run;
        Assert.Equal(0, InFlight());
    }

    [Fact]
    public async Task AColdStartsTimeline_TellsStartingTheProcessFromLoadingTheModel_InOrder()
    {
        _cluster.Hive("a", models: [TestCluster.Model("cold")], workers: [TestCluster.Worker(8080, "m")]);
        _starter.SpawnedPort = 8081;
        using var events = _events.Subscribe();
        var run = _pipeline.RunAsync("cold", new ScriptedClient(Ok), new RequestTimeline(_events, _time, NullLogger.Instance, "cold-1", "infer"), Rbee.Queen.Audit.Actor.LocalCaller,
            CancellationToken.None);
        await _starter.Started.Task;
        _cluster.Hive("a", models: [TestCluster.Model("cold")], workers: [TestCluster.Worker(8080, "m"), TestCluster.Worker(8081, "cold")]);
        _starter.Finish.TrySetResult();
        await run;

        // spawn_started → worker_spawned (the hive's "spawned": process up) → worker_ready (model loaded) → placed. Whether
        // "queued" comes before or after the start's first note depends on the start's own thread: left out.
        Assert.Equal([RequestPhases.SpawnStarted, RequestPhases.WorkerSpawned, RequestPhases.WorkerReady, RequestPhases.Placed],
            Phases(events, "cold-1").Where(p => p is not RequestPhases.Queued and not RequestPhases.Done));
    }
}
