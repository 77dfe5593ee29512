using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Rbee.Contracts.Wire;
using Rbee.Queen.Routing;
using Rbee.Queen.Scheduling;

namespace Rbee.Queen.Tests.Scheduling;

/// <summary>
/// The one lookup of a requested model name (<see cref="ClusterModels.Resolve"/>): its own id, Ollama's <c>:latest</c>,
/// an alias's pulled-by-hand model; the scheduler keys its queue and its lease by the model's own id, and the worker
/// gets the request under that id.
/// </summary>
public sealed class ModelNamesTests
{
    private const string Source = "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M";

    [Fact]
    public void ANameWithoutATag_ThatNoHiveLists_IsItsLatest()
    {
        var index = ClusterModels.Build(new TestCluster().Hive("a", models: [TestCluster.Model("tiny:latest"), TestCluster.Model("big:7b")]).Snapshot, ["llm"]);
        Assert.Equal("tiny:latest", index.Resolve("tiny")?.Id);
        Assert.Equal("tiny:latest", index.Resolve("tiny:latest")?.Id);
        Assert.Null(index.Resolve("big"));          // only big:7b: not big's default tag
        Assert.Null(index.Resolve("tiny:1b"));      // a name with a tag is taken as it is
        Assert.Null(index.Find("tiny"));            // Find stays exact
    }

    [Fact]
    public void AModelOfThatExactName_WinsOverItsLatest()
    {
        var index = ClusterModels.Build(new TestCluster().Hive("a", models: [TestCluster.Model("tiny"), TestCluster.Model("tiny:latest")]).Snapshot, ["llm"]);
        Assert.Equal("tiny", index.Resolve("tiny")?.Id);
    }

    [Fact]
    public void AnAlias_IsServedByTheModelOfThatId_ElseByAModelPulledFromItsSource()
    {
        var aliases = new Dictionary<string, string> { ["tinyllama"] = Source };
        var byHand = TestCluster.Model("tinyllama-1.1b-chat-v1.0.Q4_K_M") with { Origin = Source };
        var index = ClusterModels.Build(new TestCluster().Hive("a", models: [byHand, TestCluster.Model("other") with { Origin = "org/x:y.gguf" }]).Snapshot,
            ["llm"], aliases);
        Assert.Equal(byHand.Id, index.Resolve("tinyllama")?.Id);

        var pulled = ClusterModels.Build(new TestCluster().Hive("a", models: [byHand, TestCluster.Model("tinyllama") with { Origin = Source }]).Snapshot,
            ["llm"], aliases);
        Assert.Equal("tinyllama", pulled.Resolve("tinyllama")?.Id);

        Assert.Null(ClusterModels.Build(new TestCluster().Hive("a", models: [TestCluster.Model("x")]).Snapshot, ["llm"], aliases).Resolve("tinyllama"));
    }

    [Fact]
    public async Task TheScheduler_ServesTinyWithTinyLatest_InOneQueue_AndTheLeaseNamesTheModelsOwnId()
    {
        var time = new FakeTimeProvider();
        var cluster = new TestCluster().Hive("a", workers: [TestCluster.Worker(8080, "tiny:latest")]);
        var options = new SchedulingOptions { MaxInFlightPerWorker = 1 };
        var scheduler = new Scheduler(new ModelIndex(() => cluster.Snapshot, options), new WorkerLoads(options, time), new LeastRequestsPolicy(),
            new SchedulerTests.FakeColdStarter(), options, time, NullLogger<Scheduler>.Instance);

        var first = await scheduler.AcquireAsync("tiny", null, false, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.Equal("tiny:latest", first.Model);
        // The worker is full: a request by the other name waits in the same queue.
        var second = scheduler.AcquireAsync("tiny:latest", null, false, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.Equal(1, scheduler.QueueLength("tiny:latest"));
        Assert.Equal(0, scheduler.QueueLength("tiny"));
        first.Release(RequestOutcome.Success);
        Assert.Equal("tiny:latest", (await second).Model);
    }

    [Fact]
    public void TheModelEndpoint_ListsWhereEachHiveFoundTheFile()
    {
        var time = new FakeTimeProvider();
        var index = ClusterModels.Build(new TestCluster()
            .Hive("a", models: [TestCluster.Model("m") with { Source = ModelSources.HuggingFace }])
            .Hive("b", models: [TestCluster.Model("m")]).Snapshot, ["llm"]);
        var m = Assert.Single(ModelList.Build(index, new WorkerLoads(new SchedulingOptions(), time), time.GetUtcNow()).Data);
        Assert.Equal(["a huggingface_cache", "b models_dir"], m.Rbee.AvailableOn.Select(a => $"{a.HiveId} {a.Source}"));
    }

    [Fact]
    public void ARequestServedByAnotherName_ReachesTheWorkerUnderItsOwnId_EveryOtherFieldAsItWas()
    {
        var body = Encoding.UTF8.GetBytes("""{"messages":[{"role":"user","content":"hi \u00e9"}], "model" : "tiny","stream":true,"n":{"model":[1,2.50]}}""");
        var renamed = Encoding.UTF8.GetString(InferenceBody.WithModel(body, "tiny:latest"));
        Assert.Equal("""{"messages":[{"role":"user","content":"hi \u00e9"}], "model" : "tiny:latest","stream":true,"n":{"model":[1,2.50]}}""", renamed);
        Assert.Equal(("tiny:latest", true), InferenceBody.Parse(Encoding.UTF8.GetBytes(renamed)));
    }
}
