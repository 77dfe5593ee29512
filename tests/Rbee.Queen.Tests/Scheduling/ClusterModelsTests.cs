using Microsoft.Extensions.Time.Testing;
using Rbee.Contracts.Wire;
using Rbee.Queen.Routing;
using Rbee.Queen.Scheduling;

namespace Rbee.Queen.Tests.Scheduling;

public sealed class ClusterModelsTests
{
    private static ClusterModels Build(TestCluster c) => ClusterModels.Build(c.Snapshot, ["llm"]);

    [Fact]
    public void ReadyAndLoadingWorkers_AndFilesOnOnlineHives_AreIndexedByModelId()
    {
        var c = new TestCluster()
            .Hive("a", workers: [TestCluster.Worker(8080, "m"), TestCluster.Worker(8081, "m", WorkerStates.Starting)], models: [TestCluster.Model("m"), TestCluster.Model("disk-only")])
            .Hive("b", state: HiveState.Degraded, workers: [TestCluster.Worker(8080, "sick")])
            .Hive("c", models: [TestCluster.Model("no-type")], llmAvailable: false);
        var index = Build(c);
        var m = index.Find("m")!;
        Assert.Equal([8080], m.Ready.Select(w => w.Worker.Port));
        Assert.Equal([8081], m.Starting.Select(w => w.Worker.Port));
        Assert.Equal("http://a.lan:8080", m.Ready[0].Url);
        Assert.Equal(8 * TestCluster.GiB, m.Ready[0].FreeMemoryBytes);
        Assert.True(index.Find("disk-only")!.Routable);
        Assert.False(index.Find("sick")!.Routable);
        Assert.Equal(["b"], index.Find("sick")!.UnhealthyHives);
        // A hive without an available worker type cannot start the model.
        Assert.False(index.Find("no-type")?.Routable ?? false);
    }

    [Fact]
    public void AWorkerWithoutAModelId_AnswersToItsFileName()
    {
        var w = TestCluster.Worker(8080, "x") with { ModelId = null, Model = "/srv/models/tiny-llama.Q4_0.gguf" };
        Assert.Equal("tiny-llama.Q4_0", ClusterModels.ModelIdOf(w));
    }

    [Fact]
    public void FreeMemory_IsNullWhenTheHiveDidNotMeasureIt()
    {
        var c = new TestCluster().Hive("a", ramFree: null);
        Assert.Null(ClusterModels.FreeBytes(c.Snapshot.Find("a")!, "cpu"));
        Assert.Null(ClusterModels.FreeBytes(c.Snapshot.Find("a")!, "cuda:0"));
    }

    [Fact]
    public void TheModelList_HasEachRoutableModelOnce_InOpenAisShape()
    {
        var c = new TestCluster()
            .Hive("a", workers: [TestCluster.Worker(8080, "m")], models: [TestCluster.Model("m"), TestCluster.Model("disk-only")])
            .Hive("b", models: [TestCluster.Model("m")])
            .Hive("z", state: HiveState.Degraded, workers: [TestCluster.Worker(8080, "sick")]);
        var time = new FakeTimeProvider();
        var list = ModelList.Build(Build(c), new WorkerLoads(new SchedulingOptions(), time), time.GetUtcNow());
        Assert.Equal(["disk-only", "m"], list.Data.Select(m => m.Id));
        var m = list.Data[1];
        Assert.Equal(("model", "rbee"), (m.Object, m.OwnedBy));
        Assert.Equal(["a"], m.Rbee.Loaded.Select(l => l.HiveId));
        Assert.Equal(["a", "b"], m.Rbee.AvailableOn.Select(a => a.HiveId));
        Assert.Equal("Q8_0", m.Rbee.Quantization);
        Assert.Equal(DateTimeOffset.UnixEpoch.AddDays(1).ToUnixTimeSeconds(), m.Created);
    }
}
