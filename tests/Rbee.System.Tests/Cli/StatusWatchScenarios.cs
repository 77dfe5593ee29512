using System.Text.Json;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;
using Xunit.Abstractions;

namespace Rbee.SystemTests.Cli;

/// <summary><c>rbee status --watch</c> follows the queen's stream: a frozen hive shows degraded, then offline, as the queen decides it.</summary>
[Collection("System")]
[Trait("Category", "System")]
public sealed class StatusWatchScenarios(ITestOutputHelper output)
{
    /// <summary>How long after the queen announces a change the watching CLI may take to print it.</summary>
    private static readonly TimeSpan ShownWithin = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task AHiveFrozenWithSigstop_ShowsDegradedThenOffline_WithinASecondOfTheQueensDecision()
    {
        using var home = new TempHome();
        await using var cluster = await RoutingCluster.StartAsync(twoHives: false);
        var hive = cluster.A.HiveId;
        await using var watch = LiveRbee.Piped(["status", "--watch", "--json", "--queen-url", cluster.Queen.Url], new Dictionary<string, string?> { ["HOME"] = home.Path });
        try
        {
            await watch.WaitForAsync("first view", $"{hive} online", RoutingCluster.Budget, t => Shows(t, hive, "online"));
            cluster.A.Process.Signal(Signals.SIGSTOP);
            try
            {
                await cluster.Stream.WaitForStateAsync("queen: degraded", hive, "degraded", RoutingCluster.Budget);
                await watch.WaitForAsync("watch: degraded", $"{hive} degraded", ShownWithin, t => Shows(t, hive, "degraded"));
                await cluster.Stream.WaitForStateAsync("queen: offline", hive, "offline", RoutingCluster.Budget);
                await watch.WaitForAsync("watch: offline", $"{hive} offline", ShownWithin, t => Shows(t, hive, "offline"));
            }
            finally
            {
                cluster.A.Process.Signal(Signals.SIGCONT);
            }
        }
        finally
        {
            output.WriteLine(watch.Text.Length > 4000 ? watch.Text[^4000..] : watch.Text);
        }
    }

    /// <summary>Whether a printed view (one JSON document a line) has <paramref name="hive"/> in <paramref name="state"/>.</summary>
    private static bool Shows(string text, string hive, string state) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Any(line =>
        {
            try
            {
                return JsonDocument.Parse(line).RootElement.GetProperty("hives").EnumerateArray()
                    .Any(h => h.GetProperty("hive_id").GetString() == hive && h.GetProperty("state").GetString() == state);
            }
            catch (JsonException)
            {
                return false; // a line still being written
            }
        });
}
