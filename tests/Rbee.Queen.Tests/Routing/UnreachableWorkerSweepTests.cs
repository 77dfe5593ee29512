using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Rbee.Contracts.Wire;
using Rbee.Queen.Routing;
using Rbee.Queen.Scheduling;
using Rbee.Queen.Telemetry;
using Rbee.Queen.Tests.Cluster;
using Rbee.Queen.Tests.Scheduling;

namespace Rbee.Queen.Tests.Routing;

/// <summary>
/// When a hive goes offline, only the requests of its workers that do not answer themselves are ended (a link cut), never
/// those of a worker that survived its hive (a hive crash); and an ended request fails over like any worker failure.
/// </summary>
public sealed class UnreachableWorkerSweepTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch.AddDays(100));
    private readonly SchedulingOptions _options = new() { MaxInFlightPerWorker = 1, MaxRetries = 2 };
    private readonly InFlightRequests _inFlight = new();
    private readonly FakeProbe _probe = new();
    private readonly UnreachableWorkerSweep _sweep;

    private static readonly WorkerKey A1 = new("a", 8080, 9080);
    private static readonly WorkerKey A2 = new("a", 8081, 9081);
    private static readonly WorkerKey B1 = new("b", 8080, 9080);

    public UnreachableWorkerSweepTests()
    {
        _sweep = new UnreachableWorkerSweep(ClusterFixtures.Registry(ClusterFixtures.Clock()), _inFlight, _probe, _options, _time,
            NullLogger<UnreachableWorkerSweep>.Instance);
    }

    /// <summary>Answers for each worker URL as told; unknown URLs do not answer. Counts the probes.</summary>
    private sealed class FakeProbe : IWorkerProbe
    {
        public HashSet<string> Answering { get; } = [];
        public List<(string Url, TimeSpan Timeout)> Probed { get; } = [];

        public Task<bool> ProbeHealthAsync(string workerUrl, TimeSpan timeout, CancellationToken ct)
        {
            lock (Probed) Probed.Add((workerUrl, timeout));
            return Task.FromResult(Answering.Contains(workerUrl));
        }
    }

    private static string Url(WorkerKey k) => $"http://{k.HiveId}:{k.Port}";

    [Fact]
    public async Task OnlyTheRequestsOfAWorkerThatDoesNotAnswer_AreEnded_WithTheReason()
    {
        using var cut1 = new WorkerDeadline(TimeSpan.FromMinutes(10), CancellationToken.None);
        using var cut2 = new WorkerDeadline(TimeSpan.FromMinutes(10), CancellationToken.None);
        using var survivor = new WorkerDeadline(TimeSpan.FromMinutes(10), CancellationToken.None);
        using var otherHive = new WorkerDeadline(TimeSpan.FromMinutes(10), CancellationToken.None);
        using var t1 = _inFlight.Track(A1, Url(A1), cut1);
        using var t2 = _inFlight.Track(A1, Url(A1), cut2);
        using var t3 = _inFlight.Track(A2, Url(A2), survivor);
        using var t4 = _inFlight.Track(B1, Url(B1), otherHive);
        _probe.Answering.Add(Url(A2));

        var ended = await _sweep.SweepOnceAsync("a", "no frame for 10000 ms", CancellationToken.None);

        Assert.Equal(2, ended);
        Assert.True(cut1.Expired && cut2.Expired);
        Assert.Contains("unreachable: its hive a went offline (no frame for 10000 ms)", cut1.AbandonedBecause, StringComparison.Ordinal);
        Assert.False(survivor.Token.IsCancellationRequested);
        Assert.Null(survivor.AbandonedBecause);
        Assert.False(otherHive.Token.IsCancellationRequested);
        // One probe per worker (not per request), each bounded by the option; the other hive's worker is not asked.
        Assert.Equal([(Url(A1), _options.UnreachableProbeTimeout), (Url(A2), _options.UnreachableProbeTimeout)],
            _probe.Probed.OrderBy(p => p.Url, StringComparer.Ordinal));
    }

    [Fact]
    public async Task AnAttemptThatEnded_IsNeitherProbedNorTouched_AndAbandoningAnEndedDeadlineIsHarmless()
    {
        var deadline = new WorkerDeadline(TimeSpan.FromMinutes(10), CancellationToken.None);
        var tracked = _inFlight.Track(A1, Url(A1), deadline);
        Assert.Equal(1, _inFlight.CountOn("a"));
        tracked.Dispose();
        deadline.Dispose();

        Assert.Equal(0, _inFlight.CountOn("a"));
        Assert.Equal(0, await _sweep.SweepOnceAsync("a", "stream closed", CancellationToken.None));
        Assert.Empty(_probe.Probed);
        deadline.Abandon("late"); // the sweep may look just before an attempt ends: no throw
    }

    [Fact]
    public void ADeadlineEndedByTheClient_IsNotReportedAsAWorkerFault()
    {
        using var client = new CancellationTokenSource();
        using var deadline = new WorkerDeadline(TimeSpan.FromMinutes(10), client.Token);
        client.Cancel();
        deadline.Abandon("unreachable");
        Assert.False(deadline.Expired);
        Assert.False(HttpInferenceClient.IsWorkerFault(new OperationCanceledException(), deadline));
    }

    /// <summary>A client whose first attempt stalls (the blackholed link) until its deadline ends; later attempts succeed.</summary>
    private sealed class StallsFirstClient : IInferenceClient
    {
        private int _attempt;
        public TaskCompletionSource<WorkerLease> FirstSent { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public List<string> Workers { get; } = [];
        public (int Status, string Code)? Failure { get; private set; }
        public bool Streaming => false;
        public ValueTask WaitingLongAsync(CancellationToken ct) => ValueTask.CompletedTask;
        public ValueTask ProgressAsync(string line, CancellationToken ct) => ValueTask.CompletedTask;

        public async Task<HttpResponseMessage> SendAsync(WorkerLease lease, CancellationToken ct)
        {
            Workers.Add(lease.HiveId);
            if (_attempt++ == 0)
            {
                FirstSent.SetResult(lease);
                await Task.Delay(Timeout.Infinite, ct);
            }
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("{}") };
        }

        public ValueTask<Delivery> DeliverAsync(HttpResponseMessage upstream, WorkerLease lease, RequestTimeline timeline, WorkerDeadline deadline) =>
            ValueTask.FromResult(Delivery.Ok);

        public ValueTask FailAsync(int status, ErrorResponse error, int? retryAfterSeconds, CancellationToken ct)
        {
            Failure = (status, error.Error.Code);
            return ValueTask.CompletedTask;
        }
    }

    private (InferencePipeline Pipeline, WorkerLoads Loads, ClusterEventHub Events) Pipeline()
    {
        var cluster = new TestCluster();
        cluster.Hive("a", workers: [TestCluster.Worker(8080, "m")]).Hive("b", workers: [TestCluster.Worker(8080, "m")]);
        var loads = new WorkerLoads(_options, _time);
        var scheduler = new Scheduler(new ModelIndex(() => cluster.Snapshot, _options), loads, new LeastRequestsPolicy(),
            new SchedulerTests.FakeColdStarter(), _options, _time, NullLogger<Scheduler>.Instance);
        return (new InferencePipeline(scheduler, _options, _time, inFlight: _inFlight), loads,
            new ClusterEventHub(ClusterFixtures.Registry(ClusterFixtures.Clock())));
    }

    [Fact]
    public async Task ARequestStalledOnAnUnreachableWorker_FailsOverToTheOtherHive_BeforeItsFirstByte()
    {
        var (pipeline, loads, events) = Pipeline();
        var client = new StallsFirstClient();
        var run = pipeline.RunAsync("m", client, new RequestTimeline(events, _time, NullLogger.Instance, "r1", "/v1/completions"), Rbee.Queen.Audit.Actor.LocalCaller, CancellationToken.None);
        var stalled = await client.FirstSent.Task;
        Assert.Equal(1, _inFlight.CountOn(stalled.HiveId));

        Assert.Equal(1, await _sweep.SweepOnceAsync(stalled.HiveId, "no frame for 10000 ms", CancellationToken.None));
        await run;

        Assert.Null(client.Failure);
        Assert.Equal(2, client.Workers.Distinct().Count());
        Assert.Equal(0, _inFlight.CountOn("a") + _inFlight.CountOn("b"));
        Assert.Equal(0, loads.InFlight(stalled.Key));
        Assert.Equal(1, loads.Find(stalled.Key)!.ConsecutiveFailures);
    }

    [Fact]
    public async Task ARequestOnAWorkerThatStillAnswers_GoesOn()
    {
        var (pipeline, loads, events) = Pipeline();
        var client = new StallsFirstClient();
        using var leaves = new CancellationTokenSource();
        var run = pipeline.RunAsync("m", client, new RequestTimeline(events, _time, NullLogger.Instance, "r1", "/v1/completions"), Rbee.Queen.Audit.Actor.LocalCaller, leaves.Token);
        var busy = await client.FirstSent.Task;
        _probe.Answering.Add(busy.Url);

        Assert.Equal(0, await _sweep.SweepOnceAsync(busy.HiveId, "stream closed", CancellationToken.None));
        Assert.False(run.IsCompleted);
        Assert.Equal(1, _inFlight.CountOn(busy.HiveId));
        Assert.Equal(1, loads.InFlight(busy.Key));

        await leaves.CancelAsync();
        await run;
        Assert.Equal(0, _inFlight.CountOn(busy.HiveId));
    }

    /// <summary>A worker's streamed body: one SSE frame, then nothing until the read is cancelled (the link went dark).</summary>
    private sealed class FrameThenSilence : Stream
    {
        private bool _sent;
        public TaskCompletionSource FirstDelivered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            if (!_sent)
            {
                _sent = true;
                var frame = "data: {\"choices\":[{\"text\":\"hi\"}]}\n\n"u8;
                frame.CopyTo(buffer.Span);
                return frame.Length;
            }
            FirstDelivered.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
            return 0;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public async Task AStreamThatBegan_EndsWithAnErrorFrameNamingTheUnreachableWorker_WhenItsAttemptIsAbandoned()
    {
        var cluster = new TestCluster().Hive("a", workers: [TestCluster.Worker(8080, "m")]);
        var scheduler = new Scheduler(new ModelIndex(() => cluster.Snapshot, _options), new WorkerLoads(_options, _time), new LeastRequestsPolicy(),
            new SchedulerTests.FakeColdStarter(), _options, _time, NullLogger<Scheduler>.Instance);
        var lease = await scheduler.AcquireAsync("m", null, false, _options.MaxWait, CancellationToken.None);
        var timeline = new RequestTimeline(new ClusterEventHub(ClusterFixtures.Registry(ClusterFixtures.Clock())), _time, NullLogger.Instance, "r", "/v1/completions");
        var context = new DefaultHttpContext();
        var sent = new MemoryStream();
        context.Response.Body = sent;
        context.Request.Path = "/v1/completions";
        var request = new DefaultHttpContext();
        request.Request.Body = new MemoryStream("{\"model\":\"m\",\"stream\":true}"u8.ToArray());
        using var body = await InferenceBody.ReadAsync(request.Request, 1 << 20, CancellationToken.None);
        var client = new HttpInferenceClient(context, body, null!, "r");
        var worker = new FrameThenSilence();
        using var upstream = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(worker) };
        upstream.Content.Headers.ContentType = new("text/event-stream");
        using var deadline = new WorkerDeadline(TimeSpan.FromMinutes(10), CancellationToken.None);
        using (_inFlight.Track(lease.Key, lease.Url, deadline))
        {
            var delivering = client.DeliverAsync(upstream, lease, timeline, deadline).AsTask();
            await worker.FirstDelivered.Task;
            Assert.Equal(1, await _sweep.SweepOnceAsync("a", "no frame for 10000 ms", CancellationToken.None));
            var delivery = await delivering;
            Assert.Equal(DeliveryOutcome.FailedAfterFirstByte, delivery.Outcome);
        }
        lease.Release(RequestOutcome.Failure);

        var text = Encoding.UTF8.GetString(sent.ToArray());
        Assert.StartsWith("data: {\"choices\"", text, StringComparison.Ordinal);
        var error = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)[^1];
        Assert.StartsWith("data: {\"error\":", error, StringComparison.Ordinal);
        Assert.Contains("worker_failed", error, StringComparison.Ordinal);
        Assert.Contains("is unreachable: its hive a went offline", error, StringComparison.Ordinal);
    }
}
