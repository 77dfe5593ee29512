using Microsoft.Extensions.Configuration;
using Rbee.Platform.Configuration;
using Rbee.Worker.Serving;

namespace Rbee.Worker.Tests.Serving;

public sealed class WorkerOptionsTests
{
    private static readonly Dictionary<string, string?> NoEnv = [];

    [Fact]
    public void Defaults_FollowTheLaunchContract()
    {
        var o = WorkerConfiguration.Read(["--model", "/m/tiny-model.Q4_0.gguf"], NoEnv);
        Assert.Equal("tiny-model.Q4_0", o.ModelId);
        Assert.Equal(8080, o.Port);
        Assert.Equal("127.0.0.1", o.Host);
        Assert.Equal(1, o.Parallel);
        Assert.Null(o.ContextSize);
        Assert.Null(o.ReadyFile);
        Assert.Equal(2048, o.EffectiveContextSize(2048));
        Assert.Equal(WorkerOptions.DefaultContextCap, o.EffectiveContextSize(131072));
    }

    [Fact]
    public void HiveLaunchFlags_AreRead()
    {
        var o = WorkerConfiguration.Read(
            ["--model", "a.gguf", "--port", "8082", "--host", "10.0.0.5", "--worker-id", "w1", "--ready-file", "/tmp/r.json",
             "--parallel=3", "--ctx-size", "512", "--threads", "2", "--model-id", "my"], NoEnv);
        Assert.Equal((8082, "10.0.0.5", "w1", "/tmp/r.json", 3, 512, 2, "my"),
            (o.Port, o.Host, o.WorkerId, o.ReadyFile, o.Parallel, o.ContextSize, o.Threads, o.ModelId));
    }

    [Fact]
    public void TheLaunchContractsVariables_AreRead_AndFlagsWin()
    {
        var env = new Dictionary<string, string?>
        {
            ["RBEE_WORKER_MODEL"] = "/m/from-env.gguf", ["RBEE_WORKER_MODEL_ID"] = "chat", ["RBEE_WORKER_ID"] = "w7",
            ["RBEE_WORKER_DEVICE"] = "cuda:0", ["RBEE_WORKER_RESTART"] = "on_failure", ["RBEE_WORKER_STARTED_BY"] = "queen",
        };
        var fromEnv = WorkerConfiguration.Read([], env);
        Assert.Equal(("/m/from-env.gguf", "chat", "w7"), (fromEnv.ModelPath, fromEnv.ModelId, fromEnv.WorkerId));

        var flagged = WorkerConfiguration.Read(["--model", "/m/a.gguf", "--model-id", "a", "--worker-id", "w8"], env);
        Assert.Equal(("/m/a.gguf", "a", "w8"), (flagged.ModelPath, flagged.ModelId, flagged.WorkerId));
    }

    [Fact]
    public void TheWorkerSection_IsReadLikeTheDaemons_AndNothingElseOfRbee()
    {
        // A hive's own settings and secrets in the environment configure nothing here; RBEE_Worker__* does.
        var env = new Dictionary<string, string?>
        {
            ["RBEE_Worker__ContextSize"] = "1024", ["RBEE_Worker__Parallel"] = "2",
            ["RBEE_Hive__Port"] = "1", ["RBEE_Workers__StopGrace"] = "x", ["RBEE_PORT"] = "1", ["RBEE_CLUSTER_TOKEN"] = "secret",
            ["RBEE_Protocol__TelemetryInterval"] = "not a duration",
        };
        var o = WorkerConfiguration.Read(["--model", "a.gguf", "--parallel", "3"], env);
        Assert.Equal((1024, 3, 8080), (o.ContextSize, o.Parallel, o.Port));
    }

    [Fact]
    public void AnyKey_MayBeGivenAsAFlag_OrInTheConfigFile()
    {
        var file = Path.Combine(Path.GetTempPath(), $"rbee-worker-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, """{ "Worker": { "ContextSize": 2048, "QueueSize": 5, "Threads": 3 } }""");
        try
        {
            var o = WorkerConfiguration.Read(["--model", "a.gguf", "--config", file, "--Worker:QueueSize", "7"], NoEnv);
            Assert.Equal((2048, 7, 3), (o.ContextSize, o.QueueSize, o.Threads));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void ShutdownTimeout_IsGivenInMilliseconds()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(1500), WorkerConfiguration.Read(["--model", "a.gguf", "--shutdown-timeout-ms", "1500"], NoEnv).ShutdownTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), WorkerConfiguration.Read(["--model", "a.gguf"], NoEnv).ShutdownTimeout);
    }

    [Fact]
    public void BatchWindow_IsGivenInMilliseconds_AndOnlyASingleSlotGoesWithout()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(2), WorkerConfiguration.Read(["--model", "a.gguf"], NoEnv).BatchWindow);
        var o = WorkerConfiguration.Read(["--model", "a.gguf", "--batch-window-ms", "0"], NoEnv);
        Assert.Equal(TimeSpan.Zero, o.BatchWindow);
        Assert.Contains("--batch-window-ms must be between 0 and 1000",
            Assert.Throws<StartupException>(() => WorkerConfiguration.Read(["--model", "a.gguf", "--batch-window-ms", "5000"], NoEnv)).Message);

        var model = new ScriptedModel(["<eos>", "a"], _ => 1);
        using (var one = LoadedWorker.Create(model, new WorkerOptions { ModelPath = "a.gguf", ModelId = "a" }))
            Assert.Equal(TimeSpan.Zero, one.Loop.BatchWindow);
        using (var four = LoadedWorker.Create(model, new WorkerOptions { ModelPath = "a.gguf", ModelId = "a", Parallel = 4 }))
            Assert.Equal(TimeSpan.FromMilliseconds(2), four.Loop.BatchWindow);
    }

    [Fact]
    public void EveryFlag_IsAKeyOfTheWorkerSection()
    {
        Assert.All(WorkerConfiguration.Flags.Values, key => Assert.StartsWith(WorkerOptions.SectionName + ConfigurationPath.KeyDelimiter, key));
        Assert.False(WorkerConfiguration.Spec.ServerFlags);
    }

    [Fact]
    public void Environment_IsReadAndFlagsWin()
    {
        var env = new Dictionary<string, string?> { ["RBEE_WORKER_CTX_SIZE"] = "256", ["RBEE_WORKER_PORT"] = "9000" };
        var o = WorkerConfiguration.Read(["--model", "a.gguf", "--port", "9001"], env);
        Assert.Equal(256, o.ContextSize);
        Assert.Equal(9001, o.Port);
    }

    [Theory]
    [InlineData(new[] { "--port", "1" }, "--model")]
    [InlineData(new[] { "--model", "a.gguf", "--bogus", "1" }, "unknown flag --bogus")]
    [InlineData(new[] { "--model", "a.gguf", "--port" }, "--port needs a value")]
    [InlineData(new[] { "--model", "a.gguf", "--port", "x" }, "--port must be an integer")]
    [InlineData(new[] { "--model", "a.gguf", "--parallel", "0" }, "--parallel must be between")]
    [InlineData(new[] { "--model", "a.gguf", "stray" }, "unexpected argument")]
    [InlineData(new[] { "--model", "a.gguf", "--ctx-size", "8" }, "--ctx-size must be between 16 and")]
    [InlineData(new[] { "--model", "a.gguf", "--model-id", " " }, "--model-id must not be empty")]
    [InlineData(new[] { "--model", "a.gguf", "--cluster-token-file", "/x" }, "unknown flag --cluster-token-file")]
    [InlineData(new[] { "--model", "a.gguf", "--max-connections", "0" }, "--max-connections must be between 1 and")]
    [InlineData(new[] { "--model", "a.gguf", "--keep-alive-timeout-ms", "0" }, "--keep-alive-timeout-ms must be between 1 and")]
    public void BadFlags_AreRefusedWithAClearMessage(string[] args, string expected)
    {
        var e = Assert.Throws<StartupException>(() => WorkerConfiguration.Read(args, NoEnv));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ConnectionLimits_DefaultToHalfTheDescriptors_AndTheDaemonsTimeOuts_AndAreFlags()
    {
        var d = WorkerConfiguration.Read(["--model", "a.gguf"], NoEnv).Connections;
        Assert.Equal((null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10)), (d.MaxConnections, d.RequestHeadersTimeout, d.KeepAliveTimeout));
        Assert.Equal(512, d.EffectiveMaxConnections(1024));
        var o = WorkerConfiguration.Read(["--model", "a.gguf", "--max-connections", "7", "--keep-alive-timeout-ms", "1500",
            "--request-headers-timeout-ms", "250"], NoEnv).Connections;
        Assert.Equal((7L, TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(1500)), (o.MaxConnections, o.RequestHeadersTimeout, o.KeepAliveTimeout));
        Assert.Equal(7, o.EffectiveMaxConnections(1024));
    }
}
