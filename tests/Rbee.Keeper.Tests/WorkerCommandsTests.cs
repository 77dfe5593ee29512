using System.Text.Json;
using Rbee.Contracts.Wire;
using Rbee.Keeper.Connection;
using Rbee.Keeper.Output;
using Rbee.Keeper.Workers;

namespace Rbee.Keeper.Tests;

/// <summary><c>rbee ps</c>'s rows and table, and which workers <c>rbee stop</c> names, from a cluster view.</summary>
public sealed class WorkerCommandsTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private static ProcessStats Worker(int port, string modelId, string state = WorkerStates.Ready) => new()
    {
        Pid = 1000 + port, Group = "llm", Instance = port.ToString(System.Globalization.CultureInfo.InvariantCulture), Port = port, State = state,
        Model = $"/models/{modelId}.gguf", ModelId = modelId, Device = "cpu", CpuPct = 12.5, RssMb = 300,
        Url = $"http://10.0.0.5:{port}", InFlight = 0,
    };

    private static ClusterView View() => new(3,
    [
        new HiveView("gpu-box", "http://10.0.0.5:7835", "i1", HiveState.Online, null, 100, "0.1.0", 1, [], null,
        [
            Worker(8081, "tiny") with { InFlight = 2, Device = "cuda:0", VramMb = 2048 },
            Worker(8080, "tiny") with { LastUsedAt = Now.AddSeconds(-75), IdleStopAt = Now.AddMinutes(4), StartedBy = WorkerOrigins.Queen },
        ]),
        new HiveView("cpu-box", "http://10.0.0.6:7835", "i2", HiveState.Degraded, null, 4000, "0.1.0", 1, [], null,
            [Worker(8080, "llama") with { Url = "http://10.0.0.6:8080", ModelId = null, Model = "/models/llama.gguf" }]),
    ]);

    [Fact]
    public void Rows_HiveByHive_ByPort_WithTheModelsId()
    {
        var rows = PsCommand.Rows(View());
        Assert.Equal([("cpu-box", 8080, "llama"), ("gpu-box", 8080, "tiny"), ("gpu-box", 8081, "tiny")], rows.Select(r => (r.HiveId, r.Port, r.Model)));
        Assert.Equal("degraded", rows[0].HiveState);
    }

    [Fact]
    public void Table_ShowsWhereWhatAndHowBusy()
    {
        var text = ConsoleText.Render(PsCommand.Render(PsCommand.Rows(View()), Now));
        var busy = ConsoleText.Line(text, ":8081");
        foreach (var expected in new[] { "tiny", "gpu-box", "http://10.0.0.5:8081", "ready", "cuda:0", "2", "12.5", "300.0 MiB", "2.0 GiB VRAM", "busy" })
            Assert.Contains(expected, busy);
        Assert.Contains("idle 1m15s, stops in 4m00s", ConsoleText.Line(text, "10.0.0.5:8080"));
    }

    [Fact]
    public void NoWorkers_SaysHowToStartOne() => Assert.Contains("rbee run", ConsoleText.Render(PsCommand.Render([], Now)));

    [Fact]
    public void PsJson_HasStableSnakeCaseFields()
    {
        var json = JsonSerializer.Serialize(new PsOutput(PsCommand.Rows(View())), KeeperJsonContext.Default.PsOutput);
        var row = JsonDocument.Parse(json).RootElement.GetProperty("workers")[1];
        Assert.Equal(["hive_id", "hive_state", "model", "model_path", "url", "port", "pid", "state", "device", "in_flight", "cpu_pct", "rss_mb", "vram_mb",
            "uptime_s", "started_by", "last_used_at", "idle_stop_at"], row.EnumerateObject().Select(p => p.Name));
        Assert.Equal("tiny", row.GetProperty("model").GetString());
        Assert.Equal("queen", row.GetProperty("started_by").GetString());
    }

    [Theory]
    [InlineData("tiny", new[] { "gpu-box:8080", "gpu-box:8081" })]
    [InlineData("llama", new[] { "cpu-box:8080" })]
    [InlineData("gpu-box:8081", new[] { "gpu-box:8081" })]
    [InlineData("8081", new[] { "gpu-box:8081" })]
    [InlineData("http://10.0.0.6:8080/", new[] { "cpu-box:8080" })]
    [InlineData("nothing", new string[0])]
    public void Stop_NamesEveryWorkerOfAModel_OrOneWorker(string target, string[] expected)
    {
        var matched = StopCommand.Match(PsCommand.Rows(View()), target);
        Assert.Equal(expected, matched.Select(w => $"{w.HiveId}:{w.Port}").Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Stop_ABarePortOnTwoHives_AsksForTheHive()
    {
        var e = Assert.Throws<CliFailure>(() => StopCommand.Match(PsCommand.Rows(View()), "8080"));
        Assert.Equal(ExitCodes.Usage, e.ExitCode);
        Assert.Contains("HIVE:8080", e.Message);
    }
}
