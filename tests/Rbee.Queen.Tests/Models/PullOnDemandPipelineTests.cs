using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Queen.Audit;
using Rbee.Queen.Models;
using Rbee.Queen.Routing;
using Rbee.Queen.Scheduling;
using Rbee.Queen.Telemetry;
using Rbee.Queen.Tests.Jobs;
using Rbee.Queen.Tests.Scheduling;

namespace Rbee.Queen.Tests.Models;

/// <summary>
/// A request for an alias that no hive has, through the queen's request path: pulled on demand with its progress as SSE
/// comments, then served; refused with the right error when pulls are off or the pull fails; and its wait for a worker
/// (Scheduling:MaxWait) starts only after the pull.
/// </summary>
public sealed class PullOnDemandPipelineTests : IAsyncLifetime
{
    private const string Source = ModelPullsTests.Source;

    private readonly QueenWithHives _queen = new();
    private readonly ModelOptions _models = new() { Aliases = { ["tinyllama"] = Source }, PullOnDemand = true };
    private readonly SchedulingOptions _options = new() { StreamHeadersAfter = TimeSpan.Zero, MaxWait = TimeSpan.FromSeconds(10) };
    private readonly SchedulerTests.FakeColdStarter _starter = new();
    private readonly InferencePipeline _pipeline;
    private readonly ClusterEventHub _events;
    private StubHive? _hive;

    public PullOnDemandPipelineTests()
    {
        var scheduler = new Scheduler(new ModelIndex(() => _queen.Registry.Current, _options, _models.Aliases), new WorkerLoads(_options, _queen.Time),
            new LeastRequestsPolicy(), _starter, _options, _queen.Time, NullLogger<Scheduler>.Instance);
        var pulls = new ModelPulls(_queen.Registry, _queen.Forwarder, _models, _options, new MostFreeMemoryPullPlacement(), _queen.Time,
            _queen.Audit, NullLogger<ModelPulls>.Instance);
        _pipeline = new InferencePipeline(scheduler, _options, _queen.Time, pulls);
        _events = new ClusterEventHub(_queen.Registry);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_hive is not null) await _hive.DisposeAsync();
        _queen.Dispose();
    }

    private async Task HiveAsync(StubHive.Script script)
    {
        _hive = await StubHive.StartAsync(script);
        _queen.Hive("a", _hive.Url);
    }

    /// <summary>A streamed client that records its comments, the model the worker was asked for, and any error.</summary>
    private sealed class RecordingClient : IInferenceClient
    {
        public List<string> Comments { get; } = [];
        public string? SentModel { get; private set; }
        public (int Status, string Code, string Message)? Failure { get; private set; }
        public bool Streaming => true;
        public ValueTask WaitingLongAsync(CancellationToken ct) => ValueTask.CompletedTask;

        public ValueTask ProgressAsync(string line, CancellationToken ct)
        {
            lock (Comments) Comments.Add(line);
            return ValueTask.CompletedTask;
        }

        public Task<HttpResponseMessage> SendAsync(WorkerLease lease, CancellationToken ct)
        {
            SentModel = lease.Model;
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("{}") });
        }

        public ValueTask<Delivery> DeliverAsync(HttpResponseMessage upstream, WorkerLease lease, RequestTimeline timeline, WorkerDeadline deadline) =>
            ValueTask.FromResult(Delivery.Ok);

        public ValueTask FailAsync(int status, ErrorResponse error, int? retryAfterSeconds, CancellationToken ct)
        {
            Failure = (status, error.Error.Code!, error.Error.Message);
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>A request sent with the API key named <c>alice</c>.</summary>
    private async Task<RecordingClient> RunAsync(string model = "tinyllama")
    {
        var client = new RecordingClient();
        await _pipeline.RunAsync(model, client, new RequestTimeline(_events, _queen.Time, NullLogger.Instance, "r1", "/v1/chat/completions"),
            Actor.ApiKey("alice"), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));
        return client;
    }

    [Fact]
    public async Task AnAliasNoHiveHas_IsPulled_WithProgressAsComments_ThenServed()
    {
        // The hive's catalog (and a worker for the model) reach the queen as its download ends.
        await HiveAsync(ModelPullsTests.Downloads("a", beforeDone: () =>
        {
            _queen.Catalog("a", 2, [TestCluster.Model("tinyllama")]);
            _queen.Frame("a", workers: TestCluster.Worker(8080, "tinyllama"));
        }));

        var client = await RunAsync();

        Assert.Null(client.Failure);
        Assert.Equal("tinyllama", client.SentModel);
        Assert.Contains($"pulling tinyllama ({Source}) on a", client.Comments);
        Assert.Contains("pulling tinyllama on a: 45% (12.3 MB of 27.0 MB, 3.1 MB/s, ETA 5 s)", client.Comments);
        Assert.Equal("waiting for hive a's catalog to list tinyllama", client.Comments[^1]);

        // The pull is in the audit log as the requesting key's doing.
        var pull = Assert.Single(_queen.AuditLines());
        using var line = System.Text.Json.JsonDocument.Parse(pull);
        Assert.Equal("api key", line.RootElement.GetProperty("actor").GetString());
        Assert.Equal("alice", line.RootElement.GetProperty("key").GetString());
        Assert.Equal("model_download", line.RootElement.GetProperty("action").GetString());
        Assert.Equal("a tinyllama", line.RootElement.GetProperty("target").GetString());
    }

    [Fact]
    public async Task ThePull_DoesNotCountAgainstMaxWait_TheColdStartAfterItGetsAllOfIt()
    {
        // The download takes a minute of the queen's clock, six times Scheduling:MaxWait.
        await HiveAsync(ModelPullsTests.Downloads("a", beforeDone: () =>
        {
            _queen.Time.Advance(TimeSpan.FromMinutes(1));
            _queen.Catalog("a", 2, [TestCluster.Model("tinyllama")]);
        }));

        var request = RunAsync();
        await _starter.Started.Task.WaitAsync(TimeSpan.FromSeconds(20)); // the cold start after the pull
        _queen.Frame("a", workers: TestCluster.Worker(8080, "tinyllama"));
        _starter.Finish.SetResult();
        var client = await request;

        Assert.Null(client.Failure);
        Assert.Equal("tinyllama", client.SentModel);
    }

    [Fact]
    public async Task AFailedPull_AnswersAnOpenAiError_NamingTheHiveAndWhy()
    {
        await HiveAsync((_, _) => JobPlan.Run((_, _) => throw new JobFailedException("401 from huggingface.co: set HF_TOKEN")));
        var client = await RunAsync();
        Assert.Equal((502, "model_pull_failed", $"pulling the model 'tinyllama' ({Source}) on hive a failed: hive a: 401 from huggingface.co: set HF_TOKEN"),
            client.Failure);
    }

    [Fact]
    public async Task WithPullsOff_AnAlias_Is404_SayingHowToPullIt_AndNothingIsPulled()
    {
        _models.PullOnDemand = false;
        await HiveAsync(ModelPullsTests.Downloads("a"));
        var client = await RunAsync();
        Assert.Equal((404, "model_not_found"), (client.Failure?.Status, client.Failure?.Code));
        Assert.Contains("`rbee pull ", client.Failure?.Message);
        Assert.Empty(_hive!.Posted);
    }

    [Fact]
    public async Task AnUnknownModelThatIsNoAlias_StaysA404()
    {
        await HiveAsync(ModelPullsTests.Downloads("a"));
        var client = await RunAsync("nothing-like-it");
        Assert.Equal((404, "model_not_found", "The model 'nothing-like-it' does not exist on any online hive (see GET /v1/models)"), client.Failure);
        Assert.Empty(_hive!.Posted);
    }
}
