using Rbee.Hive.Workers;

namespace Rbee.Hive.Tests.Workers;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CatalogTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-catalog-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string MakeExecutable(string folder, string name)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, name);
        File.WriteAllText(path, "#!/bin/sh\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    [Fact]
    public void ArgumentTemplate_FillsEveryPlaceholder_OneArgumentPerItem()
    {
        var args = ArgumentTemplate.Expand(
            ["--model", "{model}", "--port", "{port}", "--host", "{host}", "--worker-id", "{worker_id}", "--ready-file", "{ready_file}", "--dev={device}"],
            new LaunchValues("/models/my model.gguf", 8081, "10.0.0.5", "cuda:0", "llm-8081-ab", "/state/ready.json"));
        Assert.Equal(["--model", "/models/my model.gguf", "--port", "8081", "--host", "10.0.0.5", "--worker-id", "llm-8081-ab", "--ready-file", "/state/ready.json", "--dev=cuda:0"], args);
        Assert.Null(ArgumentTemplate.UnknownPlaceholder(["{model}", "{port}", "{model_id}"]));
        // {model_id}: the catalog's id when given, else the file name without extension.
        Assert.Equal(["--alias", "chat"], ArgumentTemplate.Expand(["--alias", "{model_id}"], new LaunchValues("/m/x.gguf", 1, "h", "cpu", "w", "r", "chat")));
        Assert.Equal(["--alias", "my model"], ArgumentTemplate.Expand(["--alias", "{model_id}"], new LaunchValues("/models/my model.gguf", 1, "h", "cpu", "w", "r")));
        Assert.Equal("{gpu}", ArgumentTemplate.UnknownPlaceholder(["--gpu", "{gpu}"]));
    }

    [Fact]
    public void DefaultCatalog_HasTheFourTypes_WithTheirBasePorts()
    {
        var o = new WorkerOptions();
        o.MergeDefaults();
        Assert.Equal(8080, o.Types["llm"].BasePort);
        Assert.Equal(8080, o.Types["llamacpp"].BasePort);
        Assert.Equal(8000, o.Types["vllm"].BasePort);
        Assert.Equal(8188, o.Types["comfy"].BasePort);
        Assert.Equal(ReadinessRules.ReadyFile, o.Types["llm"].Readiness);
        Assert.Equal(ReadinessRules.Health, o.Types["vllm"].Readiness);
        // Each passes the catalog's model id in its own words, so the id a client sends is the one the worker answers to.
        Assert.Equal("{model_id}", After(o.Types["llm"].Arguments, "--model-id"));
        Assert.Equal("{model_id}", After(o.Types["llamacpp"].Arguments, "--alias"));
        Assert.Equal("{model_id}", After(o.Types["vllm"].Arguments, "--served-model-name"));
        Assert.Null(o.Validate());

        var types = new WorkerCatalog(o, _dir, "").Describe().ToDictionary(t => t.Name);
        Assert.Equal(["cpu"], types["llm"].DeviceKinds);
        Assert.Equal(["cuda"], types["vllm"].DeviceKinds);
        Assert.Equal(["cpu", "cuda"], types["llamacpp"].DeviceKinds);
    }

    private static string? After(string[] args, string flag)
    {
        var i = Array.IndexOf(args, flag);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    [Fact]
    public void PartlyConfiguredType_KeepsTheBuiltInRest()
    {
        var o = new WorkerOptions();
        o.Types["llm"] = new WorkerTypeOptions { Executable = "/opt/rbee/llm-worker-rbee" };
        o.MergeDefaults();
        Assert.Equal("/opt/rbee/llm-worker-rbee", o.Types["llm"].Executable);
        Assert.Contains("--ready-file", o.Types["llm"].Arguments);
        Assert.Equal(ReadinessRules.ReadyFile, o.Types["llm"].Readiness);
    }

    [Fact]
    public void Program_IsFoundInConfigThenBesideTheHiveThenOnPath_AndMissingOnesAreListedWithAReason()
    {
        var beside = Path.Combine(_dir, "hive");
        var onPath = Path.Combine(_dir, "bin");
        MakeExecutable(beside, "llm-worker-rbee");
        MakeExecutable(onPath, "llama-server");
        var configured = MakeExecutable(Path.Combine(_dir, "opt"), "my-vllm");
        var o = new WorkerOptions();
        o.Types["vllm"] = new WorkerTypeOptions { Executable = configured };
        o.MergeDefaults();

        var catalog = new WorkerCatalog(o, beside, onPath);
        Assert.True(catalog.TryGet("llm", out var llm));
        Assert.Equal(Path.Combine(beside, "llm-worker-rbee"), llm.ProgramPath);
        Assert.Equal(Path.Combine(onPath, "llama-server"), catalog.Describe().Single(t => t.Name == "llamacpp") is { Available: true } ? Path.Combine(onPath, "llama-server") : null);
        Assert.True(catalog.TryGet("vllm", out var vllm));
        Assert.Equal(configured, vllm.ProgramPath);
        var comfy = catalog.Describe().Single(t => t.Name == "comfy");
        Assert.False(comfy.Available);
        Assert.Contains("comfyui not found", comfy.Reason, StringComparison.Ordinal);
        Assert.Equal(8188, comfy.BasePort);
    }

    [Fact]
    public void Validation_NamesTheBadSetting()
    {
        var o = new WorkerOptions();
        o.Types["x"] = new WorkerTypeOptions { Executable = "x", BasePort = 9000, Arguments = ["{gpu}"] };
        o.MergeDefaults();
        Assert.Contains("Workers:Types:x:Arguments", o.Validate(), StringComparison.Ordinal);
        var bad = new WorkerOptions { CgroupRoot = "a/b" };
        Assert.Contains("CgroupRoot", bad.Validate(), StringComparison.Ordinal);
    }
}
