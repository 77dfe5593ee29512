using System.Collections.Immutable;
using System.Globalization;
using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;

namespace Rbee.Queen.Tests.Scheduling;

/// <summary>Builds cluster snapshots for scheduler tests: hives with devices, workers and model catalogs, no server.</summary>
public sealed class TestCluster
{
    private ImmutableSortedDictionary<string, HiveEntry> _hives = ImmutableSortedDictionary.Create<string, HiveEntry>(StringComparer.Ordinal);
    private long _version;

    public ClusterSnapshot Snapshot { get; private set; } = ClusterSnapshot.Empty;

    public const long GiB = 1L << 30;

    public static ProcessStats Worker(int port, string modelId, string state = WorkerStates.Ready, string device = "cpu", int? pid = null, string? startedBy = null) =>
        new()
        {
            Pid = pid ?? 1000 + port, Group = "llm", Instance = port.ToString(CultureInfo.InvariantCulture), Port = port, State = state,
            Model = $"/models/{modelId}.gguf", Device = device, CpuPct = 1.0, RssMb = 10, UptimeS = 1.0, ModelId = modelId, StartedBy = startedBy,
        };

    public static ModelInfo Model(string id, long size = 100 << 20, int layers = 2, int kvHeads = 2, int headDim = 16, int ctx = 512) => new()
    {
        Id = id,
        Path = $"/models/{id}.gguf",
        SizeBytes = size,
        WeightsBytes = size,
        BlockCount = layers,
        HeadCount = kvHeads,
        HeadCountKv = kvHeads,
        HeadDim = headDim,
        ContextLength = ctx,
        Quantization = "Q8_0",
        Architecture = "llama",
        ModifiedAt = DateTimeOffset.UnixEpoch.AddDays(1),
    };

    /// <summary>Adds or replaces a hive; <paramref name="ramFree"/> null means the hive cannot measure its RAM.</summary>
    public TestCluster Hive(string id, HiveState state = HiveState.Online, IReadOnlyList<ProcessStats>? workers = null,
        IReadOnlyList<ModelInfo>? models = null, long? ramFree = 8 * GiB, bool llmAvailable = true)
    {
        var url = new Uri($"http://{id}.lan:7835");
        var caps = new Capabilities(id, url.ToString(), "i-" + id, "0.1.0", 1, new MonitoringInfo(MonitoringInfo.CgroupV2),
            [new DeviceInfo("cpu", "cpu", "cpu", 4, 16 * GiB)],
            [new WorkerTypeInfo("llm", llmAvailable, 8080, llmAvailable ? null : "not installed") { DeviceKinds = ["cpu"] }]);
        var node = new NodeStats(10, ramFree is { } f ? 16 * GiB - f : null, ramFree is null ? null : 16 * GiB, []);
        var entry = new HiveEntry
        {
            HiveId = id,
            HiveUrl = url,
            InstanceId = "i-" + id,
            State = state,
            Protocol = 1,
            Capabilities = caps,
            Catalog = models is null ? null : new ModelCatalog(id, "i-" + id, 1, models),
            LastFrame = new TelemetryFrame(id, "i-" + id, 1, DateTimeOffset.UnixEpoch, node, workers ?? []),
            LastSeq = 1,
            LastFrameAt = DateTimeOffset.UnixEpoch,
        };
        _hives = _hives.SetItem(id, entry);
        Snapshot = new ClusterSnapshot(++_version, _hives);
        return this;
    }
}
