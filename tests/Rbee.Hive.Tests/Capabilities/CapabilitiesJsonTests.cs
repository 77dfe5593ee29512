using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hive.Capabilities;
using Rbee.Hive.Devices;
using Rbee.Hive.Identity;

namespace Rbee.Hive.Tests.Capabilities;

/// <summary>The capabilities document matches DESIGN.md "Wire contract" field for field.</summary>
public class CapabilitiesJsonTests
{
    private sealed class OneWorkerType : IWorkerTypeCatalog
    {
        public IReadOnlyList<WorkerTypeInfo> Describe() =>
            [new("llm", true, 8080), new("vllm", false, 8000, "vllm not on PATH")];
    }

    private sealed class FixedMonitoring(MonitoringInfo info) : IMonitoringProbe
    {
        public MonitoringInfo Describe() => info;
    }

    private static async Task<JsonElement> Build(IWorkerTypeCatalog types, MonitoringInfo monitoring)
    {
        var identity = new HiveIdentity("gpu-box", "http://10.0.0.5:7835");
        var builder = new CapabilitiesBuilder(identity, new DeviceInventory(new NvidiaSmi(programPath: null)), new FixedMonitoring(monitoring), types);
        var json = JsonSerializer.Serialize(await builder.BuildAsync(CancellationToken.None), RbeeJsonContext.Default.Capabilities);
        return JsonDocument.Parse(json).RootElement.Clone();
    }

    [Fact]
    public async Task Shape_IsTheWireContracts()
    {
        var caps = await Build(new OneWorkerType(), new MonitoringInfo(MonitoringInfo.CgroupV2, Root: "/sys/fs/cgroup/unified/rbee.slice"));
        Assert.Equal(["hive_id", "hive_url", "instance_id", "version", "protocol", "monitoring", "devices", "worker_types"],
            caps.EnumerateObject().Select(p => p.Name));
        Assert.Equal("gpu-box", caps.GetProperty("hive_id").GetString());
        Assert.Equal("http://10.0.0.5:7835", caps.GetProperty("hive_url").GetString());
        Assert.Equal(32, caps.GetProperty("instance_id").GetString()!.Length);
        Assert.Equal(1, caps.GetProperty("protocol").GetInt32());
        Assert.Equal("cgroup_v2", caps.GetProperty("monitoring").GetProperty("mode").GetString());
        Assert.Equal("/sys/fs/cgroup/unified/rbee.slice", caps.GetProperty("monitoring").GetProperty("root").GetString());

        var cpu = caps.GetProperty("devices")[0];
        Assert.Equal("cpu", cpu.GetProperty("id").GetString());
        Assert.Equal("cpu", cpu.GetProperty("kind").GetString());
        Assert.True(cpu.GetProperty("cores").GetInt32() >= 1);
        Assert.True(cpu.GetProperty("ram_total_bytes").GetInt64() > 0);
        Assert.Equal(JsonValueKind.Null, cpu.GetProperty("vram_total_bytes").ValueKind);

        var types = caps.GetProperty("worker_types");
        Assert.Equal("llm", types[0].GetProperty("name").GetString());
        Assert.True(types[0].GetProperty("available").GetBoolean());
        Assert.Equal(8080, types[0].GetProperty("base_port").GetInt32());
        Assert.False(types[1].GetProperty("available").GetBoolean());
        Assert.Equal("vllm not on PATH", types[1].GetProperty("reason").GetString());
    }

    [Fact]
    public async Task WithoutWorkersCapability_WorkerTypesIsAnEmptyList_AndProcessGroupsCarriesItsReason()
    {
        var caps = await Build(new NoWorkerTypes(), new MonitoringInfo(MonitoringInfo.ProcessGroups, Reason: "no cgroup2 file system is mounted"));
        Assert.Empty(caps.GetProperty("worker_types").EnumerateArray());
        Assert.Equal("process_groups", caps.GetProperty("monitoring").GetProperty("mode").GetString());
        Assert.Equal("no cgroup2 file system is mounted", caps.GetProperty("monitoring").GetProperty("reason").GetString());
    }

    [Fact]
    public void InstanceId_IsTheSameForOneProcess_AndNewForAnother()
    {
        var identity = new HiveIdentity("h", "http://127.0.0.1:7835");
        Assert.Equal(identity.InstanceId, identity.ToReady().InstanceId);
        Assert.NotEqual(identity.InstanceId, new HiveIdentity("h", "http://127.0.0.1:7835").InstanceId);
    }
}
