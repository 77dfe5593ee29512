using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Queen.Models;
using Rbee.Queen.Scheduling;
using Rbee.Queen.Tests.Jobs;
using Rbee.Queen.Tests.Scheduling;

namespace Rbee.Queen.Tests.Models;

/// <summary>
/// Pulls on demand: one pull per alias however many requests wait, its progress to each of them, the end awaited on the
/// queen's view of the hive's catalog, and failures as OpenAI errors. Real hive job endpoints (a stub hive) over HTTP.
/// </summary>
public sealed class ModelPullsTests : IAsyncLifetime
{
    public const string Source = "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M";

    private readonly QueenWithHives _queen = new();
    private readonly ModelOptions _models = new() { Aliases = { ["tinyllama"] = Source }, PullOnDemand = true };
    private readonly List<StubHive> _hives = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var h in _hives) await h.DisposeAsync();
        _queen.Dispose();
    }

    private ModelPulls Pulls() => new(_queen.Registry, _queen.Forwarder, _models, new SchedulingOptions(), new MostFreeMemoryPullPlacement(),
        _queen.Time, _queen.Audit, NullLogger<ModelPulls>.Instance);

    private async Task<StubHive> HiveAsync(string id, StubHive.Script script, long? ramFree = 8 * QueenWithHives.GiB)
    {
        var hive = await StubHive.StartAsync(script);
        _hives.Add(hive);
        _queen.Hive(id, hive.Url, ramFree);
        return hive;
    }

    /// <summary>A hive's download of 27 MB: three progress events within one second, the last at 100 %, then the file.</summary>
    internal static StubHive.Script Downloads(string hiveId, Action? beforeDone = null) => (op, request) => JobPlan.Run((job, _) =>
    {
        Assert.Equal(JobOperations.ModelDownload, op);
        var model = request.GetProperty("name").GetString()!;
        job.Narrate($"resolved {request.GetProperty("source").GetString()} to tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf");
        job.Data(new ModelProgress(model, hiveId, 12_300_000, 27_000_000, 3_100_000, 4.7));
        job.Data(new ModelProgress(model, hiveId, 13_000_000, 27_000_000, 3_100_000, 4.5));
        job.Data(new ModelProgress(model, hiveId, 27_000_000, 27_000_000, 3_100_000, 0));
        job.Data(new ModelDownloaded(model, hiveId, $"/models/{model}.gguf", new string('a', 64), 27_000_000));
        beforeDone?.Invoke();
        return Task.CompletedTask;
    });

    /// <summary>Records what a waiting request is told, and lets the test wait for a line.</summary>
    private sealed class Lines : IPullObserver
    {
        private readonly Channel<string> _channel = Channel.CreateUnbounded<string>();
        public List<string> All { get; } = [];

        public void PullProgress(string line)
        {
            lock (All) All.Add(line);
            _channel.Writer.TryWrite(line);
        }

        public async Task UntilAsync(string expected, string phase)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                while (await _channel.Reader.ReadAsync(cts.Token) != expected) { }
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"phase {phase}: expected the line '{expected}' within 10 s; saw: {string.Join(" | ", All)}");
            }
        }
    }

    [Fact]
    public async Task ConcurrentRequestsForOneAlias_ShareOnePull_WhichEndsWhenTheQueensViewOfTheCatalogListsIt()
    {
        var hive = await HiveAsync("a", Downloads("a"));
        var pulls = Pulls();
        Lines first = new(), second = new();

        var one = pulls.PullAsync("tinyllama", first, CancellationToken.None);
        var two = pulls.PullAsync("tinyllama", second, CancellationToken.None);
        await first.UntilAsync("waiting for hive a's catalog to list tinyllama", "the hive's download ended");

        // The hive's job is done, but the queen has not seen the model in the hive's catalog: nobody is served yet.
        Assert.False(one.IsCompleted || two.IsCompleted);
        Assert.Equal(1, pulls.Running);
        _queen.Catalog("a", 2, [TestCluster.Model("tinyllama") with { Origin = Source }]);
        await Task.WhenAll(one, two).WaitAsync(TimeSpan.FromSeconds(10));

        var posted = Assert.Single(hive.Posted);
        Assert.Equal(("model_download", Source, "tinyllama"),
            (posted.GetProperty("operation").GetString(), posted.GetProperty("source").GetString(), posted.GetProperty("name").GetString()));
        Assert.Equal(0, pulls.Running);
        Assert.Equal([
            $"pulling tinyllama ({Source}) on a",
            $"[a] resolved {Source} to tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf",
            "pulling tinyllama on a: 45% (12.3 MB of 27.0 MB, 3.1 MB/s, ETA 5 s)",
            // 13.0 MB came within the same second: not shown.
            "pulling tinyllama on a: 100% (27.0 MB of 27.0 MB, 3.1 MB/s, ETA 0 s)",
            $"pulled tinyllama on a: 27.0 MB, sha256 {new string('a', 64)}",
            "waiting for hive a's catalog to list tinyllama",
        ], first.All);
        Assert.Equal("waiting for hive a's catalog to list tinyllama", second.All[^1]);
    }

    [Fact]
    public async Task ARequestThatLeaves_DoesNotStopThePull_AndTheNextRequestJoinsIt()
    {
        var hive = await HiveAsync("a", Downloads("a"));
        var pulls = Pulls();
        using var leaves = new CancellationTokenSource();
        var lines = new Lines();
        var first = pulls.PullAsync("tinyllama", lines, leaves.Token);
        await lines.UntilAsync("waiting for hive a's catalog to list tinyllama", "the hive's download ended");
        await leaves.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);

        var next = new Lines();
        var second = pulls.PullAsync("tinyllama", next, CancellationToken.None);
        Assert.Equal(["waiting for hive a's catalog to list tinyllama"], next.All); // a joiner hears the last line at once
        _queen.Catalog("a", 2, [TestCluster.Model("tinyllama")]);
        await second.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Single(hive.Posted);
    }

    [Fact]
    public async Task AHiveThatGoesAwayBeforeItsCatalogListsThePull_Ends502AtOnce_NotAtPullTimeout()
    {
        await HiveAsync("a", Downloads("a"));
        var lines = new Lines();
        var pull = Pulls().PullAsync("tinyllama", lines, CancellationToken.None);
        await lines.UntilAsync("waiting for hive a's catalog to list tinyllama", "the hive's download ended");

        _queen.Offline("a");

        var e = await Assert.ThrowsAsync<SchedulingException>(() => pull.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal((502, "model_pull_failed"), (e.Status, e.Code));
        Assert.Contains("the hive went away before its catalog listed tinyllama", e.Message);
    }

    [Fact]
    public async Task AFailedPull_Is502NamingTheHiveAndWhy_AndTheNextRequestTriesAgain()
    {
        var hive = await HiveAsync("a", (_, _) => JobPlan.Run((_, _) => throw new JobFailedException("sha256 mismatch")));
        var pulls = Pulls();

        var e = await Assert.ThrowsAsync<SchedulingException>(() => pulls.PullAsync("tinyllama", new Lines(), CancellationToken.None));
        Assert.Equal((StatusCodes.Status502BadGateway, ErrorTypes.Server, "model_pull_failed", "model"), (e.Status, e.Type, e.Code, e.Param));
        Assert.Equal($"pulling the model 'tinyllama' ({Source}) on hive a failed: hive a: sha256 mismatch", e.Message);
        Assert.Equal(0, pulls.Running);

        await Assert.ThrowsAsync<SchedulingException>(() => pulls.PullAsync("tinyllama", new Lines(), CancellationToken.None));
        Assert.Equal(2, hive.Posted.Count);
    }

    [Fact]
    public async Task APullPastPullTimeout_Fails_AndItsHiveJobIsCancelled()
    {
        _models.PullTimeout = TimeSpan.FromMinutes(1);
        var hive = await HiveAsync("a", (_, _) => JobPlan.Run(async (job, ct) =>
        {
            job.Narrate("downloading");
            await StubHive.UntilCancelledAsync(ct);
        }));
        var lines = new Lines();
        var pull = Pulls().PullAsync("tinyllama", lines, CancellationToken.None);
        await lines.UntilAsync("[a] downloading", "the hive's download runs");

        _queen.Time.Advance(TimeSpan.FromMinutes(1));

        var e = await Assert.ThrowsAsync<SchedulingException>(() => pull.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal((502, $"pulling the model 'tinyllama' ({Source}) on hive a failed: not done within 00:01:00 (Models:PullTimeout)"), (e.Status, e.Message));
        await hive.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task WithPullsOff_AnAlias_Is404_SayingHowToPullIt()
    {
        _models.PullOnDemand = false;
        var e = await Assert.ThrowsAsync<SchedulingException>(() => Pulls().PullAsync("tinyllama", new Lines(), CancellationToken.None));
        Assert.Equal((404, "model_not_found"), (e.Status, e.Code));
        Assert.Equal($"The model 'tinyllama' does not exist on any online hive (see GET /v1/models); it is an alias of {Source}: " +
            $"pull it with `rbee pull tinyllama` (the queen's job model_download), or set Models:PullOnDemand to true to have the queen pull it on the first request", e.Message);
    }

    [Fact]
    public async Task WithNoHiveThatCanRunIt_ThePullIs503()
    {
        _queen.Hive("a", llm: false).Hive("b");
        _queen.Offline("b");
        var e = await Assert.ThrowsAsync<SchedulingException>(() => Pulls().PullAsync("tinyllama", new Lines(), CancellationToken.None));
        Assert.Equal((503, "no_hive_for_pull"), (e.Status, e.Code));
        Assert.Contains("Scheduling:WorkerTypes (llm)", e.Message);
    }

    [Fact]
    public void ThePull_GoesToTheOnlineHiveWithAWorkerTypeAndTheMostFreeMemory()
    {
        _queen.Hive("a", ramFree: 2 * QueenWithHives.GiB).Hive("b", ramFree: 8 * QueenWithHives.GiB).Hive("c", ramFree: null)
            .Hive("d", ramFree: 15 * QueenWithHives.GiB, llm: false).Hive("e", ramFree: 15 * QueenWithHives.GiB);
        _queen.Offline("e");
        var candidates = Pulls().Candidates(_queen.Registry.Current);
        Assert.Equal(["a 2147483648", "b 8589934592", "c "], candidates.Select(c => $"{c.HiveId} {c.FreeBytes}"));
        var policy = new MostFreeMemoryPullPlacement();
        Assert.Equal("b", policy.Pick(candidates)?.HiveId);
        Assert.Equal("a", policy.Pick([new PullCandidate("x", "llm", null), new PullCandidate("a", "llm", 5), new PullCandidate("b", "llm", 5)])?.HiveId);
        Assert.Null(policy.Pick([]));
    }
}
