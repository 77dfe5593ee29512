using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Contracts.Wire;
using Rbee.Hive.Jobs;
using Rbee.Hive.Models;
using Rbee.Hive.Tests.Support;
using Rbee.Hive.Tests.Workers;
using Rbee.Hosting.Jobs;
using Rbee.Models.Downloads;
using Rbee.Testing;

namespace Rbee.Hive.Tests.Models;

/// <summary>
/// The hive's model jobs end to end inside the hive's own classes: a real catalog on a real directory, real downloads
/// from <see cref="HuggingFaceServer"/> on loopback, real workers for the in-use rule, jobs read as a client reads them.
/// </summary>
public sealed class ModelJobTests : IAsyncLifetime
{
    private const string Source = "rbee-test/tiny:aidreams260K.gguf";
    private static readonly byte[] Model = File.ReadAllBytes(RepoPaths.Model("aidreams260K.gguf"));
    private static readonly string ModelSha = Convert.ToHexStringLower(SHA256.HashData(Model));

    private TestHive _hive = null!;
    private HuggingFaceServer _server = null!;
    private HiveModelCatalog _catalog = null!;
    private HiveJobOperations _ops = null!;
    private JobRegistry _jobs = null!;
    private string _models = null!;

    public async Task InitializeAsync()
    {
        _hive = new TestHive();
        await _hive.StartAsync();
        _server = await HuggingFaceServer.StartAsync();
        _server.AddFile("rbee-test/tiny", "aidreams260K.gguf", Model);
        _models = Path.Combine(_hive.StateDirectory, "models");
        _catalog = new HiveModelCatalog(_models, new ModelsOptions { ScanHuggingFaceCache = false, ScanOllama = false }, TimeProvider.System, NullLogger<HiveModelCatalog>.Instance);
        _catalog.Start();
        _ops = HiveJobs.Operations(_hive, _catalog, new ModelDownloaderOptions
        {
            HuggingFaceEndpoint = _server.Endpoint.ToString(),
            RetryDelay = TimeSpan.FromMilliseconds(20),
            MaxRetryDelay = TimeSpan.FromMilliseconds(100),
            MaxAttempts = 3,
        });
        _jobs = new JobRegistry(Microsoft.Extensions.Options.Options.Create(new JobOptions()), TimeProvider.System, NullLogger<JobRegistry>.Instance);
    }

    public async Task DisposeAsync()
    {
        _jobs.Dispose();
        _catalog.Dispose();
        await _server.DisposeAsync();
        await _hive.DisposeAsync();
    }

    private JobPlan Plan(string operation, string fields)
    {
        using var request = JsonDocument.Parse($"{{\"operation\":\"{operation}\"{(fields.Length > 0 ? "," + fields : "")}}}");
        return _ops.Plan(operation, request.RootElement.Clone());
    }

    private Job Start(string operation, string fields = "")
    {
        var plan = Plan(operation, fields);
        Assert.True(plan.Work is not null, plan.Error);
        return _jobs.Start(operation, plan.Work!)!;
    }

    private static async Task<List<JobEvent>> ReadAsync(Job job)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var events = new List<JobEvent>();
        await foreach (var e in job.ReadAllAsync(cts.Token)) events.Add(e);
        return events;
    }

    private static List<JobDataEvent> Data(List<JobEvent> events) =>
        [.. events.Where(e => e.Kind == JobEventKind.Data).Select(e => JobEvents.TryRead(e.Text, out var d) ? d : null).OfType<JobDataEvent>()];

    [Fact]
    public async Task Download_ListsTheModelBeforeSayingDownloaded_WithItsOriginAndDigest()
    {
        var events = await ReadAsync(Start(JobOperations.ModelDownload, $"\"source\":\"{Source}\""));

        Assert.Equal(JobEventKind.Done, events[^1].Kind);
        var done = Assert.IsType<ModelDownloaded>(Data(events)[^1]);
        Assert.Equal(("aidreams260K", "test-hive", ModelSha, (long)Model.Length), (done.Model, done.HiveId, done.Sha256, done.Size));
        Assert.True(_catalog.Snapshot.TryGet("aidreams260K", out var listed), "listed when the job says downloaded");
        Assert.Equal(done.Path, listed.Path);
        var progress = Data(events).OfType<ModelProgress>().ToList();
        Assert.NotEmpty(progress);
        Assert.Equal(Model.Length, progress[^1].Bytes);
    }

    [Fact]
    public async Task TwoDownloadsOfOneFileAtOnce_AreOneDownload_AndBothJobsFollowIt()
    {
        var (first, second) = await StartJoinedAsync(Source);
        _server.HoldTransfers!.SetResult();

        var a = await ReadAsync(first);
        var b = await ReadAsync(second);

        Assert.Equal((JobEventKind.Done, JobEventKind.Done), (a[^1].Kind, b[^1].Kind));
        Assert.IsType<ModelDownloaded>(Data(a)[^1]);
        Assert.IsType<ModelDownloaded>(Data(b)[^1]);
        Assert.Equal(Model.Length, _server.BytesSent);
        Assert.Single(_server.Requests, r => r.Method == "GET" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ACancelledDownload_KeepsItsPart_AndTheNextJobResumesIt()
    {
        _server.BytesPerSecond = 200_000;
        var first = Start(JobOperations.ModelDownload, $"\"source\":\"{Source}\"");
        await UntilAsync(first, e => e.Kind == JobEventKind.Data && JobEvents.TryRead(e.Text, out var d) && d is ModelProgress { Bytes: >= 100_000 });
        Assert.True(_jobs.Cancel(first.Id));
        Assert.Equal(JobEventKind.Cancelled, (await ReadAsync(first))[^1].Kind);
        Assert.True(File.Exists(Path.Combine(_models, "aidreams260K.gguf.part")));
        Assert.False(_catalog.Snapshot.TryGet("aidreams260K", out _), "a .part file is never listed");

        _server.BytesPerSecond = null;
        var events = await ReadAsync(Start(JobOperations.ModelDownload, $"\"source\":\"{Source}\""));

        Assert.Equal(JobEventKind.Done, events[^1].Kind);
        Assert.Contains(events, e => e.Text.StartsWith("resuming", StringComparison.Ordinal));
        Assert.Equal(ModelSha, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(_models, "aidreams260K.gguf")))));
        // The second job asked only for what the first left: one ranged GET from at least the 100 000 bytes seen on disk.
        var ranged = Assert.Single(_server.Requests, r => r.Method == "GET" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal) && r.Range.Length > 0);
        Assert.True(long.Parse(ranged.Range["bytes=".Length..].TrimEnd('-'), System.Globalization.CultureInfo.InvariantCulture) >= 100_000, ranged.Range);
    }

    [Fact]
    public async Task ACorruptedDownload_FailsNamingBothDigests_AndNothingIsListed()
    {
        _server.CorruptBytes = true;

        var events = await ReadAsync(Start(JobOperations.ModelDownload, $"\"source\":\"{Source}\""));

        Assert.Equal(JobEventKind.Error, events[^1].Kind);
        Assert.Contains($"expected {ModelSha}", events[^1].Text, StringComparison.Ordinal);
        _catalog.Rescan();
        Assert.Empty(_catalog.Snapshot.Models);
        Assert.Empty(Directory.GetFiles(_models, "*.gguf*"));
    }

    [Fact]
    public async Task OneOfTwoJobsLeaving_DoesNotStopTheDownloadTheOtherFollows()
    {
        var (first, second) = await StartJoinedAsync(Source);

        Assert.True(_jobs.Cancel(first.Id));
        Assert.Equal(JobEventKind.Cancelled, (await ReadAsync(first))[^1].Kind);
        _server.HoldTransfers!.SetResult();

        var events = await ReadAsync(second);
        Assert.Equal(JobEventKind.Done, events[^1].Kind);
        Assert.Equal(Model.Length, _server.BytesSent);
        Assert.Single(_server.Requests, r => r.Method == "GET" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AJobThatJoinsWithADigestOfItsOwn_ChecksItAgainstTheResult()
    {
        var wrong = new string('0', 64);
        var (first, second) = await StartJoinedAsync($"{Source}#sha256={wrong}");
        _server.HoldTransfers!.SetResult();

        Assert.Equal(JobEventKind.Done, (await ReadAsync(first))[^1].Kind);
        var joined = await ReadAsync(second);
        Assert.Equal(JobEventKind.Error, joined[^1].Kind);
        Assert.Contains($"expected {wrong}", joined[^1].Text, StringComparison.Ordinal);
        Assert.Contains($"got {ModelSha}", joined[^1].Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnInterruptedDownload_IsNamedByModelList_AndDeletedByItsName()
    {
        _server.CutNextTransfers(300_000, count: 10);
        var failed = await ReadAsync(Start(JobOperations.ModelDownload, $"\"source\":\"{Source}\""));
        Assert.Equal(JobEventKind.Error, failed[^1].Kind);
        var part = Path.Combine(_models, "aidreams260K.gguf.part");
        Assert.True(File.Exists(part));

        var list = await ReadAsync(Start(JobOperations.ModelList));
        Assert.Contains(list, e => e.Text.StartsWith("interrupted download: aidreams260K.gguf.part", StringComparison.Ordinal));
        Assert.Null(_ops.ResolveModel(part, out var why));
        Assert.Contains("not a model", why, StringComparison.Ordinal);

        var deleted = await ReadAsync(Start(JobOperations.ModelDelete, "\"model\":\"aidreams260K\""));
        Assert.Equal(JobEventKind.Done, deleted[^1].Kind);
        Assert.False(File.Exists(part));
        Assert.Empty(Directory.GetFiles(_models, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task APullOfAFileAlreadyInTheHuggingFaceCache_AnswersWithThatModel_AndFetchesNothing()
    {
        var hub = Path.Combine(_hive.StateDirectory, "hub");
        FakeModelStores.AddHuggingFace(hub, RepoPaths.Model("aidreams260K.gguf"), "rbee-test/tiny", "aidreams260K.gguf");
        using var catalog = new HiveModelCatalog(Path.Combine(_hive.StateDirectory, "models-2"), new ModelsOptions { HuggingFaceCache = hub, ScanOllama = false },
            TimeProvider.System, NullLogger<HiveModelCatalog>.Instance);
        catalog.Rescan();
        var ops = HiveJobs.Operations(_hive, catalog, new ModelDownloaderOptions { HuggingFaceEndpoint = _server.Endpoint.ToString() });
        using var request = JsonDocument.Parse($"{{\"operation\":\"model_download\",\"source\":\"{Source}\"}}");

        var events = await ReadAsync(_jobs.Start(JobOperations.ModelDownload, ops.Plan(JobOperations.ModelDownload, request.RootElement.Clone()).Work!)!);

        Assert.Equal(JobEventKind.Done, events[^1].Kind);
        var done = Assert.IsType<ModelDownloaded>(Assert.Single(Data(events)));
        Assert.Equal(("aidreams260K", ModelSha), (done.Model, done.Sha256));
        Assert.StartsWith(hub, done.Path, StringComparison.Ordinal);
        Assert.Empty(_server.Requests);
        Assert.False(Directory.Exists(Path.Combine(_hive.StateDirectory, "models-2", "aidreams260K.gguf")));
    }

    [Theory]
    [InlineData("", "'source' is required")]
    [InlineData("\"source\":\"just-a-name\"", "names no repository")]
    [InlineData("\"source\":\"rbee-test/tiny:aidreams260K.gguf\",\"name\":\"../x\"", "'name'")]
    [InlineData("\"source\":\"rbee-test/tiny:aidreams260K.gguf\",\"name\":7", "'name' must be a string")]
    public void ABadDownloadRequest_IsRefusedBeforeAnythingRuns(string fields, string message)
    {
        var plan = Plan(JobOperations.ModelDownload, fields);
        Assert.Null(plan.Work);
        Assert.Contains(message, plan.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_IsRefusedWhileAWorkerServesTheModel_AndRemovesItOnceStopped()
    {
        Assert.Equal(JobEventKind.Done, (await ReadAsync(Start(JobOperations.ModelDownload, $"\"source\":\"{Source}\"")))[^1].Kind);
        var path = Path.Combine(_models, "aidreams260K.gguf");
        var worker = await _hive.Supervisor.StartAsync(_hive.Spec() with { ModelPath = path, ModelId = "aidreams260K" }, CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60))) worker = await _hive.Supervisor.AwaitReadyAsync(worker, cts.Token);

        var refused = Plan(JobOperations.ModelDelete, "\"model\":\"aidreams260K\"");
        Assert.Null(refused.Work);
        Assert.Equal("model_in_use", refused.Code);
        Assert.Contains($"port {worker.Port}", refused.Error, StringComparison.Ordinal);
        Assert.True(File.Exists(path));

        await _hive.Supervisor.StopAsync(worker, null, CancellationToken.None);
        var events = await ReadAsync(Start(JobOperations.ModelDelete, "\"model\":\"aidreams260K\""));

        Assert.Equal(JobEventKind.Done, events[^1].Kind);
        Assert.Equal(new ModelDeleted("aidreams260K", "test-hive", path), Assert.Single(Data(events)));
        Assert.False(File.Exists(path));
        Assert.False(File.Exists(ModelProvenance.PathFor(path)));
        Assert.False(_catalog.Snapshot.TryGet("aidreams260K", out _));
    }

    [Fact]
    public void Delete_OfAModelNotListed_IsA400NamingTheModel()
    {
        var plan = Plan(JobOperations.ModelDelete, "\"model\":\"nothere\"");
        Assert.Equal(("model_not_found", "model"), (plan.Code, plan.Param));
        Assert.Contains("'nothere'", plan.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_GivesOneRowPerModel_WithSourceOriginAndDigest()
    {
        File.Copy(RepoPaths.Model("aidreams260K.gguf"), Path.Combine(_models, "copied.gguf"));
        Assert.Equal(JobEventKind.Done, (await ReadAsync(Start(JobOperations.ModelDownload, $"\"source\":\"{Source}\"")))[^1].Kind);

        var events = await ReadAsync(Start(JobOperations.ModelList));

        var rows = events.Where(e => e.Kind == JobEventKind.Data)
            .Select(e => JsonSerializer.Deserialize(e.Text, Rbee.Contracts.Json.RbeeJsonContext.Default.ModelInfo)!).ToDictionary(m => m.Id);
        Assert.Equal(["aidreams260K", "copied"], rows.Keys.Order(StringComparer.Ordinal));
        Assert.Equal((ModelSources.ModelsDir, Source, ModelSha), (rows["aidreams260K"].Source, rows["aidreams260K"].Origin, rows["aidreams260K"].Sha256));
        Assert.Equal((ModelSources.ModelsDir, (string?)null, (string?)null), (rows["copied"].Source, rows["copied"].Origin, rows["copied"].Sha256));
        Assert.All(rows.Values, m => Assert.NotNull(m.Quantization));
    }

    /// <summary>A download held before its first byte, and a second job for <paramref name="secondSource"/> that has joined
    /// it; the caller releases <see cref="HuggingFaceServer.HoldTransfers"/>.</summary>
    private async Task<(Job First, Job Second)> StartJoinedAsync(string secondSource)
    {
        _server.HoldTransfers = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = Start(JobOperations.ModelDownload, $"\"source\":\"{Source}\"");
        await _server.FirstTransfer.WaitAsync(TimeSpan.FromSeconds(30));
        var second = Start(JobOperations.ModelDownload, $"\"source\":\"{secondSource}\"");
        await UntilAsync(second, e => e.Text.StartsWith("joining the download", StringComparison.Ordinal));
        return (first, second);
    }

    /// <summary>Reads the job's events as a client does until one matches (the job's own stream: nothing polls).</summary>
    private static async Task UntilAsync(Job job, Func<JobEvent, bool> match)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await foreach (var e in job.ReadAllAsync(cts.Token))
            if (match(e)) return;
        Assert.Fail("the job ended before the event came");
    }
}
