using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Queen.Models;
using Rbee.Queen.Tests.Jobs;
using Rbee.Queen.Tests.Scheduling;

namespace Rbee.Queen.Tests.Models;

/// <summary>The queen's model jobs on their face (400s) and model_list's rows, from the queen's own view of the catalogs.</summary>
public sealed class ModelJobsTests : IDisposable
{
    private const string Source = "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M";
    private readonly QueenWithHives _queen = new();
    private readonly ModelJobs _jobs;

    public ModelJobsTests()
    {
        _jobs = new ModelJobs(_queen.Registry, _queen.Forwarder, new ModelOptions { Aliases = { ["tinyllama"] = Source } });
    }

    public void Dispose() => _queen.Dispose();

    private static JsonElement Request(string json) => QueenWithHives.Request(json);

    [Theory]
    [InlineData("""{"hive_id":"a"}""", "source", "missing_field")]
    [InlineData("""{"hive_id":"a","source":42}""", "source", "invalid_job")]
    [InlineData("""{"hive_id":"a","source":"org/repo"}""", "source", "invalid_source")]
    [InlineData("""{"hive_id":"a","source":"https://example.com/model.bin"}""", "source", "invalid_source")]
    [InlineData("""{"hive_id":"a","source":"org/repo:m.gguf","name":7}""", "name", "invalid_job")]
    [InlineData("""{"hive_id":"a","source":"org/repo:m.gguf","name":"../etc/x"}""", "name", "invalid_name")]
    [InlineData("""{"hive_id":"a","source":"org/repo:.hidden.gguf"}""", "name", "invalid_name")]
    [InlineData("""{"source":"org/repo:m.gguf"}""", "hive_id", "missing_field")]
    [InlineData("""{"source":"org/repo:m.gguf","hive_id":"nope"}""", "hive_id", "hive_not_found")]
    public void ADownload_ThatNoHiveWouldTake_Is400NamingTheField(string json, string param, string code)
    {
        _queen.Hive("a");
        var plan = _jobs.PlanDownload(Request(json));
        Assert.Null(plan.Work);
        Assert.Equal((param, code), (plan.Param, plan.Code));
    }

    [Fact]
    public void ASourceThatDoesNotParse_IsRefusedWithTheParsersReason()
    {
        _queen.Hive("a");
        var plan = _jobs.PlanDownload(Request("""{"hive_id":"a","source":"org/repo:nonsense"}"""));
        Assert.Equal("':nonsense' is neither a .gguf file name nor a quantisation such as Q4_K_M", plan.Error);
    }

    [Fact]
    public async Task AnAliasAsTheSource_DownloadsItsSource_UnderTheAliasName()
    {
        await using var hive = await StubHive.StartAsync((_, _) => JobPlan.Run((_, _) => Task.CompletedTask));
        _queen.Hive("a", hive.Url);
        var events = await QueenWithHives.EventsAsync(
            _queen.Start(JobOperations.ModelDownload, _jobs.PlanDownload(Request("""{"hive_id":"a","source":"tinyllama"}"""))), "download of an alias");
        Assert.Equal(JobEventKind.Done, events[^1].Kind);
        Assert.Equal($"tinyllama is an alias of {Source}", events[0].Text);
        var posted = Assert.Single(hive.Posted);
        Assert.Equal((Source, "tinyllama"), (posted.GetProperty("source").GetString(), posted.GetProperty("name").GetString()));
    }

    [Fact]
    public void ADelete_NeedsAModel_AndStarMeansTheOnlineHivesThatListIt()
    {
        _queen.Hive("a", models: [TestCluster.Model("m")]).Hive("b", models: [TestCluster.Model("other")]);
        Assert.Equal(("model", "missing_field"), (_jobs.PlanDelete(Request("""{"hive_id":"a"}""")).Param, _jobs.PlanDelete(Request("""{"hive_id":"a"}""")).Code));
        var none = _jobs.PlanDelete(Request("""{"hive_id":"*","model":"ghost"}"""));
        Assert.Equal(("hive_id", "no online hive lists the model 'ghost' (see the job model_list)"), (none.Param, none.Error));
        Assert.NotNull(_jobs.PlanDelete(Request("""{"hive_id":"*","model":"m"}""")).Work);
    }

    [Fact]
    public async Task ADeleteOnStar_GoesOnlyToTheHivesThatListTheModel()
    {
        await using var a = await StubHive.StartAsync((op, r) => JobPlan.Run((job, _) =>
        {
            job.Data(new ModelDeleted(r.GetProperty("model").GetString()!, "a", "/models/m.gguf"));
            return Task.CompletedTask;
        }));
        await using var b = await StubHive.StartAsync((_, _) => JobPlan.Invalid("no such model", "model"));
        _queen.Hive("a", a.Url, models: [TestCluster.Model("m")]).Hive("b", b.Url, models: [TestCluster.Model("other")]);

        var events = await QueenWithHives.EventsAsync(_queen.Start(JobOperations.ModelDelete, _jobs.PlanDelete(Request("""{"hive_id":"*","model":"m"}"""))), "delete m");

        Assert.Equal(JobEventKind.Done, events[^1].Kind);
        Assert.Equal("model_delete", Assert.Single(a.Posted).GetProperty("operation").GetString());
        Assert.Empty(b.Posted);
        Assert.Contains(events, e => e.Kind == JobEventKind.Data && JobEvents.TryRead(e.Text, out var d) && d is ModelDeleted { HiveId: "a", Model: "m" });
    }

    [Fact]
    public async Task ModelList_HasOneRowPerHiveAndModel_WithTheCatalogsFieldsAndTheHive()
    {
        var pulled = TestCluster.Model("tinyllama") with
        {
            Source = ModelSources.ModelsDir, Origin = Source, Sha256 = new string('c', 64), SizeBytes = 668_788_096, Quantization = "Q4_K_M",
        };
        _queen.Hive("a", models: [TestCluster.Model("m"), pulled])
            .Hive("b", models: [TestCluster.Model("m") with { Source = ModelSources.HuggingFace, Origin = "org/m" }])
            .Hive("c"); // no catalog yet
        _queen.Offline("b"); // an offline hive's catalog is still listed, with its state

        var events = await QueenWithHives.EventsAsync(_queen.Start(JobOperations.ModelList, _jobs.PlanList(Request("{}"))), "model_list");

        Assert.Equal(JobEventKind.Done, events[^1].Kind);
        var rows = events.Where(e => e.Kind == JobEventKind.Data).Select(e => JsonDocument.Parse(e.Text).RootElement).ToList();
        Assert.Equal(["a/m", "a/tinyllama", "b/m"], rows.Select(r => $"{r.GetProperty("hive_id").GetString()}/{r.GetProperty("id").GetString()}"));
        Assert.Equal(["online", "online", "offline"], rows.Select(r => r.GetProperty("hive_state").GetString()));

        // The row is a ModelInfo plus the hive: read back as one, it is the catalog's entry.
        var row = rows[1];
        Assert.Equal(pulled, row.Deserialize(RbeeJsonContext.Default.ModelInfo));
        Assert.Equal((Source, new string('c', 64), "models_dir"),
            (row.GetProperty("origin").GetString(), row.GetProperty("sha256").GetString(), row.GetProperty("source").GetString()));

        var narration = events.Where(e => e.Kind == JobEventKind.Narration).Select(e => e.Text).ToList();
        Assert.Contains($"tinyllama on a (online): 668.8 MB, Q4_K_M, models_dir, from {Source}", narration);
        Assert.Contains("m on b (offline): 104.9 MB, Q8_0, huggingface_cache, from org/m", narration);
        Assert.Contains("c (online): no model catalog at the queen yet", narration);
        Assert.Equal("3 model(s) on 2 hive(s)", narration[^1]);
    }

    [Fact]
    public async Task ModelList_FilteredByHive_ListsOnlyThatHive()
    {
        _queen.Hive("a", models: [TestCluster.Model("m")]).Hive("b", models: [TestCluster.Model("n")]);
        var events = await QueenWithHives.EventsAsync(_queen.Start(JobOperations.ModelList, _jobs.PlanList(Request("""{"hive_id":"b"}"""))), "model_list b");
        var row = JsonDocument.Parse(Assert.Single(events, e => e.Kind == JobEventKind.Data).Text).RootElement;
        Assert.Equal(("b", "n"), (row.GetProperty("hive_id").GetString(), row.GetProperty("id").GetString()));
        Assert.Equal(("hive_id", "hive_not_found"), (_jobs.PlanList(Request("""{"hive_id":"zz"}""")).Param, _jobs.PlanList(Request("""{"hive_id":"zz"}""")).Code));
    }

    [Fact]
    public async Task ModelList_OfAnEmptyCluster_SaysSo()
    {
        var events = await QueenWithHives.EventsAsync(_queen.Start(JobOperations.ModelList, _jobs.PlanList(Request("{}"))), "model_list empty");
        Assert.Equal(["no models in the cluster", "[DONE]"], events.Select(e => e.Kind == JobEventKind.Done ? "[DONE]" : e.Text));
    }
}
