using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Rbee.Contracts.Json;
using Rbee.Contracts.Protocol;
using Rbee.Queen.Cluster;
using Rbee.Queen.Configuration;
using static Rbee.Queen.Tests.Cluster.ClusterFixtures;

namespace Rbee.Queen.Tests.Cluster;

/// <summary>The queen's per-worker fields (in_flight, last_used_at, ejected_until, idle_stop_at) come from IWorkerLoadView.</summary>
public sealed class WorkerLoadViewTests
{
    private sealed class OneWorkerLoad(WorkerLoad load) : IWorkerLoadView
    {
        public List<(string, int, int)> Asked { get; } = [];

        public WorkerLoad? Find(string hiveId, int port, int pid)
        {
            Asked.Add((hiveId, port, pid));
            return port == 8080 ? load : null;
        }
    }

    [Fact]
    public void ClusterView_FillsTheFieldsFromTheLoadView_NullWhereItKnowsNothing()
    {
        var clock = Clock();
        var registry = Registry(clock);
        registry.Ready(Ready(), HiveUrl);
        registry.ApplyFrame(Frame(0, "i1", Worker(8080), Worker(8081)));
        var load = new OneWorkerLoad(new WorkerLoad(2, Start.AddSeconds(-5), Start.AddSeconds(30), Start.AddMinutes(10)));

        var hive = Assert.Single(ClusterViews.View(registry.Current, clock.GetUtcNow(), load).Hives);
        Assert.Equal([(HiveId, 8080, 1000 + 8080), (HiveId, 8081, 1000 + 8081)], load.Asked);
        var busy = hive.Workers.Single(w => w.Port == 8080);
        Assert.Equal((2, Start.AddSeconds(-5), Start.AddSeconds(30), Start.AddMinutes(10)),
            ((int)busy.InFlight!, (DateTimeOffset)busy.LastUsedAt!, (DateTimeOffset)busy.EjectedUntil!, (DateTimeOffset)busy.IdleStopAt!));
        var unknown = hive.Workers.Single(w => w.Port == 8081);
        Assert.Equal("http://10.0.0.5:8081", unknown.Url);
        Assert.Null(unknown.InFlight);
        Assert.Null(unknown.EjectedUntil);

        var json = JsonSerializer.Serialize(ClusterViews.Hive(registry.Current.Find(HiveId)!, clock.GetUtcNow(), load), RbeeJsonContext.Default.HiveView);
        Assert.Contains("\"in_flight\":2", json);
        Assert.Contains("\"ejected_until\":\"2026-01-01T00:00:30+00:00\"", json);
        Assert.Contains("\"in_flight\":null", json);
    }

    [Fact]
    public void ClusterView_ListsTheHivesWorkerTypesFromItsCapabilities_EmptyBeforeTheyAreRead()
    {
        var clock = Clock();
        var registry = Registry(clock);
        registry.Ready(Ready(), HiveUrl);
        Assert.Empty(Assert.Single(ClusterViews.View(registry.Current, clock.GetUtcNow()).Hives).WorkerTypes);

        registry.SetCapabilities(HiveId, new Contracts.Wire.Capabilities(HiveId, HiveUrl.ToString(), "i1", "0.1.0", 1,
            new Contracts.Wire.MonitoringInfo(Contracts.Wire.MonitoringInfo.CgroupV2), [new Contracts.Wire.DeviceInfo("cpu", "cpu", "cpu")],
            [new Contracts.Wire.WorkerTypeInfo("llm", true, 8080) { DeviceKinds = ["cpu"] }, new Contracts.Wire.WorkerTypeInfo("vllm", false, 8000, "vllm not found")]));
        var json = JsonSerializer.Serialize(ClusterViews.Hive(registry.Current.Find(HiveId)!, clock.GetUtcNow()), RbeeJsonContext.Default.HiveView);
        Assert.Contains("\"worker_types\":[{\"name\":\"llm\",\"available\":true,\"base_port\":8080,\"reason\":null,\"device_kinds\":[\"cpu\"]}," +
            "{\"name\":\"vllm\",\"available\":false,\"base_port\":8000,\"reason\":\"vllm not found\",\"device_kinds\":null}]", json);
    }

    [Fact]
    public void WithoutAScheduler_TheDefaultKnowsNothing()
    {
        var clock = Clock();
        var registry = Registry(clock);
        registry.Ready(Ready(), HiveUrl);
        registry.ApplyFrame(Frame(0, "i1", Worker(8080)));
        var w = Assert.Single(Assert.Single(ClusterViews.View(registry.Current, clock.GetUtcNow()).Hives).Workers);
        Assert.Equal((null, null, null, null), (w.InFlight, w.LastUsedAt, w.EjectedUntil, w.IdleStopAt));
    }

    private static ServiceProvider Services(Action<IServiceCollection> before)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(Options.Create(new QueenOptions()));
        before(services);
        services.AddClusterView(new ProtocolOptions());
        return services.BuildServiceProvider();
    }

    [Fact]
    public void ASchedulerRegisteredFirst_KeepsItsLoadView()
    {
        var mine = new OneWorkerLoad(new WorkerLoad(1, null, null, null));
        using var provider = Services(s => s.AddSingleton<IWorkerLoadView>(mine));
        Assert.Same(mine, provider.GetRequiredService<IWorkerLoadView>());
    }

    [Fact]
    public void NoScheduler_GetsTheDefault()
    {
        using var provider = Services(_ => { });
        Assert.IsType<NoWorkerLoad>(provider.GetRequiredService<IWorkerLoadView>());
        Assert.NotNull(provider.GetRequiredService<ClusterRegistry>());
    }
}
