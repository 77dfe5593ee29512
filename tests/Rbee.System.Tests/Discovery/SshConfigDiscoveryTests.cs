using System.Diagnostics;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;
using static Rbee.SystemTests.Discovery.DiscoveryScenarios;

namespace Rbee.SystemTests.Discovery;

[Trait("Category", "System")]
[Collection("System")]
public sealed class SshConfigDiscoveryTests
{
    /// <summary>
    /// The queen re-reads its SSH config when the file changes: a silent hive added to the config of a running
    /// queen is probed and comes online without restarting anything.
    /// </summary>
    [Fact]
    public async Task HostAddedToSshConfigOfARunningQueen_IsFound()
    {
        using var home = new TempHome();
        QueenNode.WriteSshConfig(home.Path, []);
        var hivePort = FreePort.Next();
        await using var queen = QueenNode.Start(home.Path, hivePorts: new Dictionary<string, int> { ["late-hive"] = hivePort });
        await queen.WaitHealthyAsync();
        // The hive looks for a queen where there is none, and falls silent after its tries.
        await using var hive = HiveNode.Start(home.Path, $"http://127.0.0.1:{FreePort.Next()}", port: hivePort);
        await hive.WaitHealthyAsync();
        await Eventually.HoldsAsync("hive gives up", "ready state gave_up after five tries",
            ScaledTimers.ReadySequenceTotal * ScaledTimers.Headroom, async () =>
            {
                var state = (await hive.HealthAsync()).GetProperty("ready").GetString();
                return (state == "gave_up", state ?? "");
            });
        await using var stream = await queen.OpenStreamAsync();
        Assert.Null(await queen.HiveStateAsync(hive.HiveId));

        var edited = Stopwatch.StartNew();
        QueenNode.WriteSshConfig(home.Path, ["late-hive"]);
        await stream.WaitForStateAsync("found after config edit", hive.HiveId, "online", ScaledTimers.OnlineAfterLaterStart);
        Assert.True(edited.Elapsed < ScaledTimers.OnlineAfterLaterStart);
        await AssertOneStreamAsync("one stream after config edit", stream, hive);
    }
}
