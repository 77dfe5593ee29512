using System.Diagnostics;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;
using static Rbee.SystemTests.Discovery.DiscoveryScenarios;

namespace Rbee.SystemTests.Discovery;

[Trait("Category", "System")]
[Collection("System")]
public sealed class HiveFirstDiscoveryTests
{
    /// <summary>
    /// A hive that gave up its five ready tries is found by a queen started later through its SSH config (alias →
    /// 127.0.0.1, hive port mapped for that alias); then the queen is killed and restarted and the hive is back
    /// without anyone acting, each time with exactly one stream.
    /// </summary>
    [Fact]
    public async Task HiveFirst_FoundViaSshConfig_AndBackAfterQueenRestart()
    {
        using var home = new TempHome();
        var queenPort = FreePort.Next();
        await using var hive = HiveNode.Start(home.Path, $"http://127.0.0.1:{queenPort}");
        await hive.WaitHealthyAsync();
        QueenNode.WriteSshConfig(home.Path, ["local-hive"]);
        var hivePorts = new Dictionary<string, int> { ["local-hive"] = hive.Port };

        await Eventually.HoldsAsync("hive gives up", "ready state gave_up after five tries",
            ScaledTimers.ReadySequenceTotal * ScaledTimers.Headroom, async () =>
            {
                var state = (await hive.HealthAsync()).GetProperty("ready").GetString();
                return (state == "gave_up", state ?? "");
            });

        var started = Stopwatch.StartNew();
        var queen = QueenNode.Start(home.Path, queenPort, hivePorts: hivePorts);
        try
        {
            await queen.WaitHealthyAsync();
            await using (var stream = await queen.OpenStreamAsync())
            {
                await WaitOnlineAsync("found via ssh config", queen, stream, hive.HiveId, ScaledTimers.OnlineAfterLaterStart - started.Elapsed);
                Assert.True(started.Elapsed < ScaledTimers.OnlineAfterLaterStart);
                await AssertOneStreamAsync("one stream after ssh-config discovery", stream, hive);
            }

            // The queen dies hard and comes back on the same port: the hive is back without operator action.
            queen.Process.Signal(Signals.SIGKILL);
            Assert.True(await queen.Process.WaitForExitAsync(ScaledTimers.ProcessStart), "killed queen did not exit");
            await queen.DisposeAsync();
            started.Restart();
            queen = QueenNode.Start(home.Path, queenPort, hivePorts: hivePorts);
            await queen.WaitHealthyAsync();
            await using (var stream = await queen.OpenStreamAsync())
            {
                await WaitOnlineAsync("back after queen restart", queen, stream, hive.HiveId, ScaledTimers.OnlineAfterLaterStart);
                await AssertOneStreamAsync("one stream after queen restart", stream, hive);
            }
        }
        finally
        {
            await queen.DisposeAsync();
        }
    }

    /// <summary>Queen and hive started at the same moment: both discovery directions race, one stream results.</summary>
    [Fact]
    public async Task BothAtOnce_OneStreamWins()
    {
        using var home = new TempHome();
        var queenPort = FreePort.Next();
        var hivePort = FreePort.Next();
        QueenNode.WriteSshConfig(home.Path, ["local-hive"]);
        var started = Stopwatch.StartNew();
        await using var queen = QueenNode.Start(home.Path, queenPort, hivePorts: new Dictionary<string, int> { ["local-hive"] = hivePort });
        await using var hive = HiveNode.Start(home.Path, $"http://127.0.0.1:{queenPort}", port: hivePort);
        await queen.WaitHealthyAsync();
        await using var stream = await queen.OpenStreamAsync();
        await WaitOnlineAsync("online when started together", queen, stream, hive.HiveId, ScaledTimers.OnlineAfterLaterStart + ScaledTimers.ProcessStart - started.Elapsed);
        await AssertOneStreamAsync("one stream when started together", stream, hive);
        // Let the SSH-config probe run a few backoff rounds: still one stream.
        await stream.WaitForFramesAsync("frames over probe rounds", hive.HiveId,
            (int)(ScaledTimers.ProbeBackoffMax / ScaledTimers.TelemetryInterval) + 1, ScaledTimers.ProbeBackoffMax * ScaledTimers.Headroom * 2);
        Assert.Equal(1, await hive.SubscriptionsAsync());
        Assert.Single((await queen.ClusterAsync()).GetProperty("hives").EnumerateArray());
    }
}
