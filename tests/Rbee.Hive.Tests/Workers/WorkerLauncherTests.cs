using Rbee.Hive.Monitoring;
using Rbee.Hive.Workers;

namespace Rbee.Hive.Tests.Workers;

/// <summary>Sets process environment variables (the cluster token among them), so it runs alone: no other test may see them.</summary>
[Collection(EnvironmentCollection.Name)]
public sealed class WorkerLauncherTests
{
    private static (SpawnSpec, WorkerRecord) Worker()
    {
        var type = new WorkerType("llm", new WorkerTypeOptions { Executable = "llm-worker-rbee", Arguments = ["--model", "{model}", "--port", "{port}"], ApiKeyVariable = Rbee.Platform.Security.WorkerApiKey.EnvironmentVariable },
            "/opt/rbee/llm-worker-rbee", null);
        var spec = new SpawnSpec(type, "/models/m.gguf", "cpu", RestartOnFailure: true);
        var record = new WorkerRecord
        {
            Name = new WorkerCgroupName("llm", 8080), Generation = 1, WorkerDirectory = "/tmp/w", ReadyDirectory = "/run/w", State = "starting",
            WorkerId = "w-1", CgroupPath = "/sys/fs/cgroup/rbee.slice/llm-8080", Exited = Task.FromResult(new WorkerExit(0, true)),
        };
        return (spec, record);
    }

    [Fact]
    public void TheWorkersKey_IsInItsEnvironment_NeverOnItsCommandLine()
    {
        var (spec, record) = Worker();
        var psi = WorkerLauncher.StartInfo(spec, record, "127.0.0.1", apiKey: "the-workers-key");
        Assert.Equal("the-workers-key", psi.Environment[Rbee.Platform.Security.WorkerApiKey.EnvironmentVariable]);
        Assert.DoesNotContain(psi.ArgumentList, a => a.Contains("the-workers-key", StringComparison.Ordinal));
        Assert.DoesNotContain("the-workers-key", psi.Arguments, StringComparison.Ordinal);

        var open = WorkerLauncher.StartInfo(spec, record, "127.0.0.1");
        Assert.False(open.Environment.ContainsKey(Rbee.Platform.Security.WorkerApiKey.EnvironmentVariable));
    }

    [Theory]
    [InlineData("llamacpp", "LLAMA_API_KEY")]
    [InlineData("vllm", "VLLM_API_KEY")]
    [InlineData("llm", "RBEE_WORKER_API_KEY")]
    public void AnExternalEngine_GetsTheKeyThroughTheVariableItReadsAsItsApiKeyFlag_NeverOnItsCommandLine(string typeName, string variable)
    {
        var options = new WorkerOptions { Types = WorkerOptions.DefaultTypes() };
        options.MergeDefaults();
        var type = new WorkerType(typeName, options.Types[typeName], "/opt/engine", null);
        var (_, record) = Worker();
        var psi = WorkerLauncher.StartInfo(new SpawnSpec(type, "/models/m.gguf", "cpu", false), record, "127.0.0.1", apiKey: "k-123");
        Assert.Equal("k-123", psi.Environment[variable]);
        Assert.DoesNotContain(psi.ArgumentList, a => a.Contains("k-123", StringComparison.Ordinal));
    }

    [Fact]
    public void AnEngineThatTakesNoKey_GetsNone()
    {
        var options = new WorkerOptions { Types = WorkerOptions.DefaultTypes() };
        options.MergeDefaults();
        var (_, record) = Worker();
        var psi = WorkerLauncher.StartInfo(new SpawnSpec(new WorkerType("comfy", options.Types["comfy"], "/opt/comfy", null), "/m", "cpu", false), record, "127.0.0.1", apiKey: "k-123");
        Assert.DoesNotContain(psi.Environment.Values, v => v == "k-123");
    }

    [Fact]
    public void AWorkerRunAsAnotherUser_DropsRootAfterTheShimEnteredItsCgroup_AndLivesInItsOwnDirectory()
    {
        var (spec, record) = Worker();
        var psi = WorkerLauncher.StartInfo(spec, record, "127.0.0.1", runAs: new WorkerUser(65534, 65534, "nobody"));
        var args = psi.ArgumentList.ToList();
        // sh -c SHIM name procs log, then setpriv …, then setsid, then the program: the shim (root) writes cgroup.procs and
        // opens the log before setpriv runs.
        var drop = args.FindIndex(a => a.EndsWith("setpriv", StringComparison.Ordinal));
        Assert.True(drop > 0, string.Join(' ', args));
        Assert.Equal(record.LogPath, args[drop - 1]);
        Assert.Equal(["--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs"], args[(drop + 1)..(drop + 5)]);
        Assert.Equal("/opt/rbee/llm-worker-rbee", args[args.IndexOf("/opt/rbee/llm-worker-rbee")]);
        Assert.True(args.IndexOf("/opt/rbee/llm-worker-rbee") > drop + 4);
        Assert.Equal(record.ReadyDirectory, psi.Environment["HOME"]);
        Assert.Equal(record.ReadyDirectory, psi.WorkingDirectory);

        var asHive = WorkerLauncher.StartInfo(spec, record, "127.0.0.1");
        Assert.DoesNotContain(asHive.ArgumentList, a => a.EndsWith("setpriv", StringComparison.Ordinal));
    }

    [Fact]
    public void TheClusterTokenAndApiKeys_NeverReachAWorker_ButTheLaunchContractDoes()
    {
        string[] secrets = ["RBEE_CLUSTER_TOKEN", "RBEE_ClusterToken", "RBEE_ClusterTokenFile", "RBEE_Api__Keys__0"];
        foreach (var s in secrets) Environment.SetEnvironmentVariable(s, "secret");
        Environment.SetEnvironmentVariable("RBEE_Hive__Port", "17835");
        try
        {
            var (spec, record) = Worker();
            var psi = WorkerLauncher.StartInfo(spec, record, "127.0.0.1");
            foreach (var s in secrets) Assert.False(psi.Environment.ContainsKey(s), $"{s} reached the worker");
            Assert.Equal("17835", psi.Environment["RBEE_Hive__Port"]); // harmless: a worker reads only its own section
            Assert.Equal("w-1", psi.Environment[WorkerEnvironment.WorkerId]);
            Assert.Equal("/models/m.gguf", psi.Environment[WorkerEnvironment.Model]);
            Assert.Equal("m", psi.Environment[WorkerEnvironment.ModelId]);
            Assert.Equal("cpu", psi.Environment[WorkerEnvironment.Device]);
            Assert.Equal("on_failure", psi.Environment[WorkerEnvironment.Restart]);
            Assert.Equal("", psi.Environment["CUDA_VISIBLE_DEVICES"]);
        }
        finally
        {
            foreach (var s in secrets) Environment.SetEnvironmentVariable(s, null);
            Environment.SetEnvironmentVariable("RBEE_Hive__Port", null);
        }
    }

    [Fact]
    public void TheShim_EntersTheCgroup_LogsToTheWorkersFile_AndRunsTheExpandedCommand()
    {
        var (spec, record) = Worker();
        var args = WorkerLauncher.StartInfo(spec, record, "127.0.0.1").ArgumentList.ToList();
        Assert.Equal("-c", args[0]);
        Assert.Equal("rbee-worker-shim", args[2]);
        Assert.Equal("/sys/fs/cgroup/rbee.slice/llm-8080/cgroup.procs", args[3]);
        Assert.Equal("/tmp/w/worker.log", args[4]);
        Assert.Equal(["/opt/rbee/llm-worker-rbee", "--model", "/models/m.gguf", "--port", "8080"], args.SkipWhile(a => a != "/opt/rbee/llm-worker-rbee"));
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EnvironmentCollection
{
    public const string Name = "Process environment";
}
