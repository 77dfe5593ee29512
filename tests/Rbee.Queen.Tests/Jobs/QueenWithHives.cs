using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Platform.Http;
using Rbee.Queen.Cluster;
using Rbee.Queen.Jobs;
using Rbee.Queen.Tests.Cluster;

namespace Rbee.Queen.Tests.Jobs;

/// <summary>
/// The queen's parts that act on hives, wired as the queen wires them, over a real cluster registry whose hives are
/// online at the URLs the test gives (stub hives): the job registry, <see cref="HiveJobClient"/> and
/// <see cref="HiveForwarder"/>. Time is fake (the registry's waits never expire unless the test says so).
/// </summary>
internal sealed class QueenWithHives : IDisposable
{
    public const long GiB = 1L << 30;

    public FakeTimeProvider Time { get; } = ClusterFixtures.Clock();
    public ClusterRegistry Registry { get; }
    public ClusterHttp Http { get; } = new(token: null);
    public HiveJobClient HiveJobs { get; }
    public HiveForwarder Forwarder { get; }
    public JobRegistry Jobs { get; }

    /// <summary>The queen's audit log, in a directory of this test's own (deleted with it).</summary>
    public Rbee.Queen.Audit.AuditLog Audit { get; } = new(Directory.CreateTempSubdirectory("rbee-audit-").FullName, TimeProvider.System);

    /// <summary>The audit log's lines so far (none when nothing was audited).</summary>
    public string[] AuditLines() => File.Exists(Audit.Path) ? File.ReadAllLines(Audit.Path) : [];

    public QueenWithHives()
    {
        Registry = ClusterFixtures.Registry(Time);
        HiveJobs = new HiveJobClient(Http);
        Forwarder = new HiveForwarder(Registry, HiveJobs, Options.Create(new QueenJobOptions()));
        Jobs = new JobRegistry(Options.Create(new JobOptions()), TimeProvider.System, NullLogger<JobRegistry>.Instance);
    }

    /// <summary>Makes hive <paramref name="id"/> online at <paramref name="url"/> with an llm type (or none), the RAM free
    /// that its frame shows, and a catalog when <paramref name="models"/> is given.</summary>
    public QueenWithHives Hive(string id, Uri? url = null, long? ramFree = 8 * GiB, bool llm = true, IReadOnlyList<ModelInfo>? models = null)
    {
        url ??= new Uri($"http://127.0.0.1:9/{id}");
        var instance = "i-" + id;
        Registry.Ready(new HiveReady(id, url.ToString(), instance, "0.1.0", ProtocolConstants.ProtocolVersion), url);
        Registry.SetCapabilities(id, new Capabilities(id, url.ToString(), instance, "0.1.0", ProtocolConstants.ProtocolVersion,
            new MonitoringInfo(MonitoringInfo.CgroupV2), [new DeviceInfo("cpu", "cpu", "cpu", 4, 16 * GiB)],
            [new WorkerTypeInfo("llm", llm, 8080, llm ? null : "not installed") { DeviceKinds = ["cpu"] }]));
        Frame(id, ramFree);
        if (models is not null) Catalog(id, 1, models);
        return this;
    }

    private readonly Dictionary<string, long> _seq = [];

    /// <summary>A new telemetry frame of hive <paramref name="id"/> (online again if it was not).</summary>
    public void Frame(string id, long? ramFree = 8 * GiB, params ProcessStats[] workers)
    {
        var seq = _seq[id] = _seq.GetValueOrDefault(id) + 1;
        Registry.ApplyFrame(new TelemetryFrame(id, "i-" + id, seq, Time.GetUtcNow(),
            new NodeStats(5, ramFree is { } f ? 16 * GiB - f : null, ramFree is null ? null : 16 * GiB, []), workers));
    }

    public void Catalog(string id, long version, IReadOnlyList<ModelInfo> models) =>
        Registry.SetCatalog(id, new ModelCatalog(id, "i-" + id, version, models));

    public void Offline(string id) => Registry.StreamClosed(id, "i-" + id, "the test closed its stream");

    /// <summary>Starts <paramref name="plan"/>'s work as a queen job (or fails the test with the plan's refusal).</summary>
    public Job Start(string operation, JobPlan plan)
    {
        Assert.True(plan.Work is not null, $"the plan was refused: {plan.Error} (param {plan.Param}, code {plan.Code})");
        return Jobs.Start(operation, plan.Work!)!;
    }

    /// <summary>Every event of <paramref name="job"/> up to its final line.</summary>
    public static async Task<List<JobEvent>> EventsAsync(Job job, string phase)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var list = new List<JobEvent>();
        try
        {
            await foreach (var e in job.ReadAllAsync(cts.Token)) list.Add(e);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"phase {phase}: expected job {job.Operation} to end within 20 s; it said: {string.Join(" | ", list.Select(e => e.Text))}");
        }
        return list;
    }

    public static JsonElement Request(string json) => JsonDocument.Parse(json).RootElement.Clone();

    public void Dispose()
    {
        Jobs.Dispose();
        Http.Dispose();
        Directory.Delete(Path.GetDirectoryName(Audit.Path)!, recursive: true);
    }
}
