using Rbee.Worker.Serving;

namespace Rbee.Worker.Tests.Serving;

public sealed class WorkerOptionsTests
{
    private static readonly Dictionary<string, string?> NoEnv = [];

    [Fact]
    public void Defaults_FollowTheLaunchContract()
    {
        var o = WorkerOptionsReader.Read(["--model", "/m/tiny-model.Q4_0.gguf"], NoEnv);
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
        var o = WorkerOptionsReader.Read(
            ["--model", "a.gguf", "--port", "8082", "--host", "10.0.0.5", "--worker-id", "w1", "--ready-file", "/tmp/r.json",
             "--parallel=3", "--ctx-size", "512", "--threads", "2", "--model-id", "my"], NoEnv);
        Assert.Equal((8082, "10.0.0.5", "w1", "/tmp/r.json", 3, 512, 2, "my"),
            (o.Port, o.Host, o.WorkerId, o.ReadyFile, o.Parallel, o.ContextSize, o.Threads, o.ModelId));
    }

    [Fact]
    public void Environment_IsReadAndFlagsWin()
    {
        var env = new Dictionary<string, string?> { ["RBEE_WORKER_CTX_SIZE"] = "256", ["RBEE_WORKER_PORT"] = "9000" };
        var o = WorkerOptionsReader.Read(["--model", "a.gguf", "--port", "9001"], env);
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
    public void BadFlags_AreRefusedWithAClearMessage(string[] args, string expected)
    {
        var e = Assert.Throws<WorkerOptionsException>(() => WorkerOptionsReader.Read(args, NoEnv));
        Assert.Contains(expected, e.Message);
    }
}
