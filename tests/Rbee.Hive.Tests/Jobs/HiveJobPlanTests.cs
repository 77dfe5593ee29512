using Rbee.Hive.Tests.Support;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Hive.Jobs;
using Rbee.Hive.Models;
using Rbee.Hive.Tests.Workers;
using Rbee.Hive.Workers;
using Rbee.Testing;
using Rbee.Testing.Gguf;

namespace Rbee.Hive.Tests.Jobs;

/// <summary>What <c>POST /v1/jobs</c> refuses at once (400) before anything is started, and how a model is found.</summary>
[Collection("Workers")]
public sealed class HiveJobPlanTests : IAsyncLifetime
{
    private TestHive _hive = null!;
    private HiveJobOperations _ops = null!;
    private string _models = null!;
    private HiveModelCatalog _catalog = null!;

    public Task InitializeAsync()
    {
        _hive = new TestHive();
        _models = Path.Combine(_hive.StateDirectory, "models");
        Directory.CreateDirectory(_models);
        // Not started: an empty catalog, so a name is found as a file of the models directory.
        _catalog = new HiveModelCatalog(_models, new ModelsOptions(), TimeProvider.System, NullLogger<HiveModelCatalog>.Instance);
        _ops = HiveJobs.Operations(_hive, _catalog);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _catalog.Dispose();
        await _hive.DisposeAsync();
    }

    private JobPlanResult Plan(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        var plan = _ops.Plan(root.GetProperty("operation").GetString()!, root.Clone());
        return new JobPlanResult(plan.Work is not null, plan.Code, plan.Param, plan.Error);
    }

    private sealed record JobPlanResult(bool Runs, string Code, string? Param, string? Error);

    [Theory]
    [InlineData("{\"operation\":\"worker_spawn\"}", "missing_field", "model")]
    [InlineData("{\"operation\":\"worker_spawn\",\"model\":7}", "invalid_job", "model")]
    [InlineData("{\"operation\":\"worker_spawn\",\"model\":\"m\",\"worker_type\":\"teleport\"}", "unknown_worker_type", "worker_type")]
    [InlineData("{\"operation\":\"worker_spawn\",\"model\":\"m\",\"worker_type\":\"vllm\"}", "worker_type_unavailable", "worker_type")]
    [InlineData("{\"operation\":\"worker_spawn\",\"model\":\"/no/such.gguf\",\"worker_type\":\"test\"}", "model_not_found", "model")]
    [InlineData("{\"operation\":\"worker_spawn\",\"model\":\"absent\",\"worker_type\":\"test\"}", "model_not_found", "model")]
    [InlineData("{\"operation\":\"worker_spawn\",\"model\":\"tiny\",\"worker_type\":\"test\",\"device\":\"cuda:9\"}", "device_not_found", "device")]
    [InlineData("{\"operation\":\"worker_spawn\",\"model\":\"tiny\",\"worker_type\":\"test\",\"device\":\"gpu\"}", "device_not_found", "device")]
    [InlineData("{\"operation\":\"worker_spawn\",\"model\":\"tiny\",\"worker_type\":\"test\",\"restart\":\"always\"}", "invalid_job", "restart")]
    [InlineData("{\"operation\":\"worker_spawn\",\"model\":\"tiny\",\"worker_type\":\"test\",\"started_by\":\"me\"}", "invalid_job", "started_by")]
    [InlineData("{\"operation\":\"worker_spawn\",\"model\":\"tiny\",\"worker_type\":\"test\",\"started_by\":1}", "invalid_job", "started_by")]
    [InlineData("{\"operation\":\"worker_stop\"}", "missing_field", "port")]
    [InlineData("{\"operation\":\"worker_stop\",\"port\":8080,\"pid\":1}", "missing_field", "pid")]
    [InlineData("{\"operation\":\"worker_stop\",\"port\":\"8080\"}", "invalid_job", "port")]
    [InlineData("{\"operation\":\"model_teleport\"}", "unknown_operation", "operation")]
    public void InvalidOnItsFace_IsRefusedBeforeAnythingStarts(string json, string code, string param)
    {
        File.WriteAllText(Path.Combine(_models, "tiny.gguf"), "GGUF");
        var r = Plan(json);
        Assert.False(r.Runs, json);
        Assert.Equal(code, r.Code);
        Assert.Equal(param, r.Param);
        Assert.False(string.IsNullOrWhiteSpace(r.Error));
        Assert.Empty(_hive.Monitor.Snapshot.Workers);
    }

    [Fact]
    public void AModelIsAPathOrANameInTheModelsDirectory_WithOrWithoutGguf()
    {
        var file = Path.Combine(_models, "tiny.gguf");
        File.WriteAllText(file, "GGUF");
        Assert.Equal(file, _ops.ResolveModel("tiny", out _));
        Assert.Equal(file, _ops.ResolveModel("tiny.gguf", out _));
        Assert.Equal(file, _ops.ResolveModel(file, out _));
        Assert.Null(_ops.ResolveModel("other", out var why));
        Assert.Contains(_models, why, StringComparison.Ordinal);
        Assert.True(Plan("{\"operation\":\"worker_spawn\",\"model\":\"tiny\",\"worker_type\":\"test\",\"restart\":\"on_failure\"}").Runs);
        Assert.True(Plan("{\"operation\":\"worker_spawn\",\"model\":\"tiny\",\"worker_type\":\"test\",\"started_by\":\"queen\"}").Runs);
        Assert.True(Plan("{\"operation\":\"worker_spawn\",\"model\":\"tiny\",\"worker_type\":\"test\",\"started_by\":null}").Runs);
        Assert.True(Plan("{\"operation\":\"worker_list\"}").Runs);
        Assert.True(Plan("{\"operation\":\"hive_check\"}").Runs);
    }

    [Fact]
    public void ACatalogIdComesFirst_EvenOneWithSlashesAndColons_AsOllamasNamesHave()
    {
        var store = Path.Combine(_hive.StateDirectory, "ollama");
        var source = Path.Combine(_hive.StateDirectory, "source.gguf");
        RandomLlama.Write(source, new RandomLlamaSpec { Layers = 1, Vocab = 32 });
        var blob = FakeModelStores.AddOllama(store, source, "hf.co/org/repo:Q4_K_M", "tiny:latest");
        using var catalog = new HiveModelCatalog(_models, new ModelsOptions { OllamaModels = store, ScanHuggingFaceCache = false },
            TimeProvider.System, NullLogger<HiveModelCatalog>.Instance);
        catalog.Rescan();
        var ops = HiveJobs.Operations(_hive, catalog);

        Assert.Equal(blob, ops.ResolveModel("hf.co/org/repo:Q4_K_M", out _));
        Assert.Equal(blob, ops.ResolveModel("tiny:latest", out _));
        Assert.Equal(blob, ops.ResolveModel(blob, out _)); // the path still works
        Assert.Null(ops.ResolveModel("hf.co/org/other:Q4_K_M", out var why));
        Assert.StartsWith("no model 'hf.co/org/other:Q4_K_M' in this hive's catalog", why, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse("{\"model\":\"hf.co/org/repo:Q4_K_M\",\"worker_type\":\"test\"}");
        Assert.NotNull(ops.Plan("worker_spawn", doc.RootElement.Clone()).Work);
    }

    // Issue 12 §4: port -5 was accepted (202) and failed later as "no worker on port -5"; no worker can have it.
    [Theory]
    [InlineData("{\"operation\":\"worker_stop\",\"port\":-5}", "port")]
    [InlineData("{\"operation\":\"worker_stop\",\"port\":0}", "port")]
    [InlineData("{\"operation\":\"worker_stop\",\"port\":65536}", "port")]
    [InlineData("{\"operation\":\"worker_stop\",\"pid\":0}", "pid")]
    [InlineData("{\"operation\":\"worker_stop\",\"pid\":-1}", "pid")]
    public void WorkerStop_WithAPortOrPidNoWorkerCanHave_IsRefusedAtOnce(string json, string param)
    {
        var r = Plan(json);
        Assert.False(r.Runs, json);
        Assert.Equal(("invalid_job", param), (r.Code, r.Param));
    }

    [Theory]
    [InlineData("{\"operation\":\"worker_stop\",\"port\":1}")]
    [InlineData("{\"operation\":\"worker_stop\",\"port\":65535}")]
    [InlineData("{\"operation\":\"worker_stop\",\"pid\":1}")]
    public void WorkerStop_WithAWellFormedPortOrPid_Runs(string json) => Assert.True(Plan(json).Runs, json);
}
