using Rbee.Contracts.Wire;
using Rbee.Keeper.Status;
using Spectre.Console;

namespace Rbee.Keeper.Tests;

public sealed class StatusTableTests
{
    private static string RenderToText(ClusterView view)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
        });
        console.Profile.Width = 200;
        console.Write(StatusCommand.Render(view));
        return writer.ToString();
    }

    [Fact]
    public void OneRowPerHive_WithStateAgeDevicesCpuRamAndWorkers()
    {
        var gib = 1024L * 1024 * 1024;
        var view = new ClusterView(7,
        [
            new HiveView("gpu-box", "http://10.0.0.5:7835", "i1", HiveState.Online, null, 350, "0.1.0", 1,
                [new DeviceInfo("cpu", "cpu", "EPYC", 16, 64 * gib), new DeviceInfo("cuda:0", "cuda", "RTX", VramTotalBytes: 24 * gib)],
                new NodeStats(12.5, 8 * gib, 64 * gib, []),
                [new ProcessStats(1, "llm", "8080", 8080, WorkerStates.Ready, "m", "cpu", null, null, null, null, null, null, null, null)]),
            new HiveView("old-box", "http://10.0.0.6:7835", "i2", HiveState.Offline, "stream closed", 12_000, "0.1.0", 1, [], null, []),
        ]);
        var lines = RenderToText(view).Split('\n');
        var gpu = lines.Single(l => l.Contains("gpu-box", StringComparison.Ordinal));
        foreach (var expected in new[] { "online", "350 ms", "cpu, cuda:0", "12.5", "8.0/64.0 GiB", "1" }) Assert.Contains(expected, gpu);
        var old = lines.Single(l => l.Contains("old-box", StringComparison.Ordinal));
        Assert.Contains("offline", old);
        Assert.Contains("12.0 s", old);
    }

    [Fact]
    public void NoHives_SaysSo()
    {
        Assert.Contains("no hives", RenderToText(new ClusterView(0, [])));
    }
}
