using System.Text.Json;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Queen.Models;

namespace Rbee.Queen.Tests.Jobs;

/// <summary>
/// One queen job on several hives (model_download, model_delete): every hive's stream merged into one, [DONE] only when all
/// succeeded, an [ERROR] that names each failed hive and the ones that succeeded, and a cancel that reaches every hive.
/// Real hive job endpoints (stub hives) over HTTP, the queen's real forwarding.
/// </summary>
public sealed class HiveForwarderTests : IAsyncLifetime
{
    private readonly QueenWithHives _queen = new();
    private readonly List<StubHive> _hives = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var h in _hives) await h.DisposeAsync();
        _queen.Dispose();
    }

    private async Task<StubHive> HiveAsync(string id, StubHive.Script script)
    {
        var hive = await StubHive.StartAsync(script);
        _hives.Add(hive);
        _queen.Hive(id, hive.Url);
        return hive;
    }

    /// <summary>A hive whose download narrates, reports progress and the file, then succeeds.</summary>
    private static StubHive.Script Downloads(string hiveId) => (op, request) => JobPlan.Run((job, _) =>
    {
        Assert.Equal(JobOperations.ModelDownload, op);
        var model = request.GetProperty("name").GetString()!;
        job.Narrate("downloading");
        job.Data(new ModelProgress(model, hiveId, 50, 100, 10, 5));
        job.Data(new ModelDownloaded(model, hiveId, $"/models/{model}.gguf", new string('a', 64), 100));
        return Task.CompletedTask;
    });

    private JobPlan Download(string hiveIds) =>
        new ModelJobs(_queen.Registry, _queen.Forwarder, new ModelOptions())
            .PlanDownload(QueenWithHives.Request($$"""{"operation":"model_download","source":"org/repo:tiny.gguf","name":"tiny","hive_id":{{hiveIds}}}"""));

    [Fact]
    public async Task EveryHiveSucceeds_OneStreamCarriesEachHive_AndEndsDone()
    {
        var a = await HiveAsync("a", Downloads("a"));
        var b = await HiveAsync("b", Downloads("b"));

        var events = await QueenWithHives.EventsAsync(_queen.Start(JobOperations.ModelDownload, Download("""["a","b"]""")), "download on a and b");

        Assert.Equal(JobEventKind.Done, events[^1].Kind);
        var narration = events.Where(e => e.Kind == JobEventKind.Narration).Select(e => e.Text).ToList();
        Assert.Contains("[a] downloading", narration);
        Assert.Contains("[b] downloading", narration);
        Assert.Contains(narration, l => l.StartsWith("forwarded model_download to hive a (", StringComparison.Ordinal));
        Assert.Contains("hive b: done", narration);
        var data = events.Where(e => e.Kind == JobEventKind.Data).Select(e => JobEvents.TryRead(e.Text, out var d) ? d : null).ToList();
        Assert.Equal(["a", "b"], data.OfType<ModelDownloaded>().Select(d => d.HiveId).Order());
        Assert.Equal(2, data.OfType<ModelProgress>().Count());

        // Each hive got the hive job: the operation, the source, the name, and no hive_id (it is the hive posted to).
        foreach (var hive in new[] { a, b })
        {
            var posted = Assert.Single(hive.Posted);
            Assert.Equal("model_download", posted.GetProperty("operation").GetString());
            Assert.Equal("org/repo:tiny.gguf", posted.GetProperty("source").GetString());
            Assert.Equal("tiny", posted.GetProperty("name").GetString());
            Assert.False(posted.TryGetProperty("hive_id", out _));
        }
    }

    [Fact]
    public async Task OneHiveFails_TheErrorNamesItAndWhy_AndTheHivesThatSucceeded()
    {
        await HiveAsync("a", Downloads("a"));
        await HiveAsync("b", (_, _) => JobPlan.Run((job, _) => throw new JobFailedException("no space left on device")));
        await HiveAsync("c", (_, _) => JobPlan.Invalid("'source' names no repository", "source"));

        var events = await QueenWithHives.EventsAsync(_queen.Start(JobOperations.ModelDownload, Download("""["a","b","c"]""")), "download on a, b and c");

        var end = events[^1];
        Assert.Equal(JobEventKind.Error, end.Kind);
        Assert.Equal("model_download failed on 2 of 3 hives: hive b: no space left on device; "
            + "hive c refused the job (400): 'source' names no repository; succeeded on a", end.Text);
        Assert.Contains(events, e => e.Text == "hive b: failed: hive b: no space left on device");
        Assert.Contains(events, e => e.Kind == JobEventKind.Data && e.Text.Contains("\"hive_id\":\"a\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task OneHiveThatFails_EndsWithItsOwnError()
    {
        await HiveAsync("b", (_, _) => JobPlan.Run((job, _) => throw new JobFailedException("sha256 mismatch")));
        var events = await QueenWithHives.EventsAsync(_queen.Start(JobOperations.ModelDownload, Download("\"b\"")), "download on b");
        Assert.Equal((JobEventKind.Error, "hive b: sha256 mismatch"), (events[^1].Kind, events[^1].Text));
    }

    [Fact]
    public async Task CancellingTheQueensJob_CancelsEveryHivesJob()
    {
        static JobPlan Waits(string op, JsonElement request) => JobPlan.Run(async (job, ct) =>
        {
            job.Narrate("downloading");
            await StubHive.UntilCancelledAsync(ct);
        });
        var a = await HiveAsync("a", Waits);
        var b = await HiveAsync("b", Waits);

        var job = _queen.Start(JobOperations.ModelDownload, Download("\"*\""));
        // Both hives' jobs run (their narration reached the queen's job) before the cancel.
        await WaitForNarrationAsync(job, "[a] downloading", "[b] downloading");
        _queen.Jobs.Cancel(job.Id);

        var events = await QueenWithHives.EventsAsync(job, "cancel of the download on every hive");
        Assert.Equal(JobEventKind.Cancelled, events[^1].Kind);
        await a.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await b.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task AHiveThatGoesOffline_FailsItsPartOnly_AndItsJobIsCancelled()
    {
        await HiveAsync("a", Downloads("a"));
        var b = await HiveAsync("b", (_, _) => JobPlan.Run(async (job, ct) =>
        {
            job.Narrate("downloading");
            await StubHive.UntilCancelledAsync(ct);
        }));

        var job = _queen.Start(JobOperations.ModelDownload, Download("""["a","b"]"""));
        await WaitForNarrationAsync(job, "[b] downloading", "hive a: done");
        _queen.Offline("b");

        var events = await QueenWithHives.EventsAsync(job, "hive b offline mid-download");
        Assert.Equal(JobEventKind.Error, events[^1].Kind);
        Assert.Equal("model_download failed on 1 of 2 hives: hive b went away during the job (now offline); succeeded on a", events[^1].Text);
        await b.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    private static async Task WaitForNarrationAsync(Job job, params string[] lines)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var missing = new HashSet<string>(lines);
        try
        {
            await foreach (var e in job.ReadAllAsync(cts.Token))
            {
                missing.Remove(e.Text);
                if (missing.Count == 0) return;
                Assert.False(e.IsTerminal, $"the job ended ({e.Kind} {e.Text}) before saying {string.Join(", ", missing)}");
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"expected the job to say {string.Join(", ", missing)} within 10 s");
        }
    }

    [Fact]
    public void TheHiveBody_KeepsOtherFields_AndLeavesHiveIdOut()
    {
        var body = JsonDocument.Parse(ModelJobs.HiveBody(QueenWithHives.Request("""{"operation":"model_delete","model":"x","hive_id":["a"],"force":true}"""),
            JobOperations.ModelDelete, ("model", "x"))).RootElement;
        Assert.Equal("""{"operation":"model_delete","model":"x","force":true}""", body.GetRawText());
    }
}
