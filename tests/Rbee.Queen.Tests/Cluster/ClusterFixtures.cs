using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;
using Rbee.Queen.Telemetry;

namespace Rbee.Queen.Tests.Cluster;

/// <summary>Builders for the cluster-view tests: one hive "gpu-box", its readies, frames and workers.</summary>
internal static class ClusterFixtures
{
    public const string HiveId = "gpu-box";
    public static readonly Uri HiveUrl = new("http://10.0.0.5:7835");
    public static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The one driver of fake time in a test (STYLE.md §8): time moves only when the test says so.</summary>
    public static FakeTimeProvider Clock() => new(Start);

    public static ClusterRegistry Registry(TimeProvider time, ILogger<ClusterRegistry>? logger = null, ClusterOptions? options = null) =>
        new(new HiveLiveness(new ProtocolOptions()), time, logger ?? NullLogger<ClusterRegistry>.Instance, options);

    public static HiveReady Ready(string instance = "i1", string url = "http://10.0.0.5:7835", int protocol = ProtocolConstants.ProtocolVersion,
        string hiveId = HiveId) =>
        new(hiveId, url, instance, "0.1.0", protocol);

    public static ProcessStats Worker(int port, string state = WorkerStates.Ready, int? pid = null) =>
        new()
        {
            Pid = pid ?? 1000 + port, Group = "llm", Instance = port.ToString(CultureInfo.InvariantCulture), Port = port, State = state,
            Model = "m.gguf", Device = "cpu", CpuPct = 1.0, RssMb = 10, UptimeS = 1.0,
        };

    public static TelemetryFrame Frame(long seq, string instance = "i1", params ProcessStats[] workers) =>
        new(HiveId, instance, seq, DateTimeOffset.UnixEpoch, new NodeStats(5, 1, 2, []), workers);

    public static ModelCatalog Catalog(long version, string instance = "i1", string hiveId = HiveId) =>
        new(hiveId, instance, version, [new ModelInfo { Id = "tiny", Path = "/models/tiny.gguf", SizeBytes = 1234 }]);

    /// <summary>Every change queued for <paramref name="changes"/> so far (the registry hands them over before it returns).</summary>
    public static List<ClusterChange> Drain(this ClusterChangeSubscription changes)
    {
        var list = new List<ClusterChange>();
        while (changes.Reader.TryRead(out var c)) list.Add(c);
        return list;
    }

    /// <summary>The changes as the aggregate stream shows them: event name and JSON.</summary>
    public static List<(string Name, JsonElement Data)> AsStreamEvents(this IEnumerable<ClusterChange> changes) =>
        changes.Select(ClusterEventHub.ToEvent).OfType<ClusterStreamEvent>()
            .Select(e => (e.Name, JsonDocument.Parse(e.Json).RootElement.Clone())).ToList();
}
