using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Keeper.Status;
using Spectre.Console;

namespace Rbee.Keeper.Tests;

public sealed class StatusTableTests
{
    private static string RenderToText(ClusterView view) => ConsoleText.Render(StatusCommand.Render(view));

    [Fact]
    public void OneRowPerHive_WithStateAgeDevicesCpuRamAndWorkers()
    {
        var gib = 1024L * 1024 * 1024;
        var view = new ClusterView(7,
        [
            new HiveView("gpu-box", "http://10.0.0.5:7835", "i1", HiveState.Online, null, 350, "0.1.0", 1,
                [new DeviceInfo("cpu", "cpu", "EPYC", 16, 64 * gib), new DeviceInfo("cuda:0", "cuda", "RTX", VramTotalBytes: 24 * gib)],
                new NodeStats(12.5, 8 * gib, 64 * gib, [new GpuStats("cuda:0", 37, 6 * gib, 24 * gib, 55), new GpuStats("cuda:1", null, null, null, null)]),
                [new ProcessStats { Pid = 1, Group = "llm", Instance = "8080", Port = 8080, State = WorkerStates.Ready, Model = "m", Device = "cpu" }]),
            new HiveView("old-box", "http://10.0.0.6:7835", "i2", HiveState.Offline, "stream closed", 12_000, "0.1.0", 1, [], null, []),
        ]);
        var lines = RenderToText(view).Split('\n');
        var gpu = lines.First(l => l.Contains("gpu-box", StringComparison.Ordinal)); // the hive row; its worker row follows
        foreach (var expected in new[] { "online", "350 ms", "cpu, cuda:0", "12.5", "8.0/64.0 GiB", "37, -", "6.0/24.0 GiB, -" }) Assert.Contains(expected, gpu);
        // The workers follow, as `rbee ps` shows them.
        Assert.Contains(lines, l => l.Contains("MODEL", StringComparison.Ordinal) && l.Contains("IN FLIGHT", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(":8080", StringComparison.Ordinal) || l.Contains("8080", StringComparison.Ordinal) && l.Contains("ready", StringComparison.Ordinal));
        var old = lines.Single(l => l.Contains("old-box", StringComparison.Ordinal));
        Assert.Contains("offline", old);
        Assert.Contains("12.0 s", old);
        // A hive with no GPU shows none, not zero.
        Assert.DoesNotContain(" 0/", old);
    }

    [Fact]
    public void NoHives_SaysSo()
    {
        Assert.Contains("no hives", RenderToText(new ClusterView(0, [])));
    }

    [Fact]
    public void StatesRead_AsOnTheWire_ConnectingAndIncompatibleToo()
    {
        // The queen's JSON, as `rbee status` and `rbee up` read it: a hive still waiting for its first frame is "connecting".
        var view = JsonSerializer.Deserialize(
            """{"version":3,"hives":[{"hive_id":"new-box","hive_url":"http://10.0.0.7:7835","instance_id":"i3","state":"connecting","reason":null,"last_frame_age_ms":null,"version":"0.1.0","protocol":1,"devices":[],"node":null,"workers":[]},{"hive_id":"odd-box","hive_url":"http://10.0.0.8:7835","instance_id":"i4","state":"incompatible","reason":"hive speaks protocol 2","last_frame_age_ms":null,"version":"0.2.0","protocol":2,"devices":[],"node":null,"workers":[]}]}""",
            RbeeJsonContext.Default.ClusterView)!;
        Assert.Equal([HiveState.Connecting, HiveState.Incompatible], view.Hives.Select(h => h.State));
        var lines = RenderToText(view).Split('\n');
        Assert.Contains("connecting", lines.Single(l => l.Contains("new-box", StringComparison.Ordinal)));
        Assert.Contains("incompatible (hive speaks protocol 2)", lines.Single(l => l.Contains("odd-box", StringComparison.Ordinal)));

        var change = JsonSerializer.Deserialize(
            """{"hive_id":"new-box","old_state":"connecting","new_state":"online","reason":null,"timestamp":"2026-01-01T00:00:00Z"}""",
            RbeeJsonContext.Default.HiveStateChanged)!;
        Assert.Equal((HiveState.Connecting, HiveState.Online), (change.OldState, change.NewState));
    }
}
