using System.Text.Json;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;
using Xunit.Abstractions;

namespace Rbee.SystemTests.Cli;

/// <summary>
/// <c>rbee logs</c> and <c>rbee hive status|logs</c> as the real <c>rbee</c> against a real queen and hive: a worker's
/// log read through the queen, followed as the worker writes it, and still readable once the worker has exited.
/// </summary>
[Collection("System")]
[Trait("Category", "System")]
public sealed class LogScenarios(ITestOutputHelper output)
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(90);

    private static Dictionary<string, string?> Env(TempHome home) => new() { ["HOME"] = home.Path, ["NO_COLOR"] = "1" };

    private async Task<CliRun.Result> RbeeAsync(TempHome home, params string[] args)
    {
        var result = await CliRun.RunAsync(args, Env(home), Budget);
        output.WriteLine($"$ rbee {string.Join(' ', args)}\n{result}");
        return result;
    }

    [Fact]
    public async Task AWorkersLogIsShownFollowedAndOutlivesIt_HiveStatusShowsBothViews()
    {
        using var home = new TempHome();
        await using var cluster = await RoutingCluster.StartAsync(twoHives: false);
        var model = "cli-logs-" + FreePort.Next();
        cluster.Put(cluster.A, RoutingCluster.TinyModel, model);
        await cluster.WaitListedAsync(model, RoutingCluster.Budget);
        var q = cluster.Queen.Url;
        const string served = " chat 200: ";

        var run = await RbeeAsync(home, "run", model, "Once", "--param", "max_tokens=4", "--queen-url", q);
        Assert.True(run.ExitCode == 0, run.ToString());
        var ps = await RbeeAsync(home, "ps", "--json", "--queen-url", q);
        var port = JsonDocument.Parse(ps.Stdout).RootElement.GetProperty("workers").EnumerateArray()
            .Single(w => w.GetProperty("model").GetString() == model).GetProperty("port").GetInt32();

        // By model: the worker's own lines, its log file named on stderr.
        var logs = await RbeeAsync(home, "logs", model, "-n", "50", "--queen-url", q);
        Assert.True(logs.ExitCode == 0, logs.ToString());
        Assert.Contains($"Ready on port {port}", logs.Stdout);
        Assert.Contains(served, logs.Stdout);
        Assert.Contains("worker.log", logs.Stderr);

        // Followed: a request answered after the follow began appears in it.
        await using (var follow = LiveRbee.Piped(["logs", $"{cluster.A.HiveId}:{port}", "-n", "1", "-f", "--queen-url", q], Env(home)))
        {
            await follow.WaitForAsync("tail", "the last line, the request served", Budget, t => t.Contains(served, StringComparison.Ordinal));
            var again = await RbeeAsync(home, "run", model, "Twice", "--param", "max_tokens=4", "--queen-url", q);
            Assert.True(again.ExitCode == 0, again.ToString());
            await follow.WaitForAsync("follow", "a second request line", Budget, _ => follow.Count(served) >= 2);
        }

        // JSON lines: one object per log line.
        var json = await RbeeAsync(home, "logs", model, "-n", "2", "--json", "--queen-url", q);
        var lines = json.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.All(lines, l => Assert.Equal(port, JsonDocument.Parse(l).RootElement.GetProperty("port").GetInt32()));

        // hive status: the queen's view and the hive's own check.
        var status = await RbeeAsync(home, "hive", "status", "--json", "--queen-url", q);
        Assert.True(status.ExitCode == 0, status.ToString());
        var root = JsonDocument.Parse(status.Stdout).RootElement;
        Assert.Equal("online", root.GetProperty("hive").GetProperty("state").GetString());
        Assert.Equal(1, root.GetProperty("check").GetProperty("workers").GetInt32());

        // The hive's own output is a pipe to this test, not a file: said so, with where to look instead.
        var hiveLogs = await RbeeAsync(home, "hive", "logs", "--queen-url", q);
        Assert.Equal(1, hiveLogs.ExitCode);
        Assert.Contains("not to a file", hiveLogs.Stderr);

        // A stopped worker's log can still be read: its last words are why one looks.
        Assert.Equal(0, (await RbeeAsync(home, "stop", model, "--queen-url", q)).ExitCode);
        var after = await RbeeAsync(home, "logs", $"{cluster.A.HiveId}:{port}", "--queen-url", q);
        Assert.True(after.ExitCode == 0, after.ToString());
        Assert.Contains($"Ready on port {port}", after.Stdout);

        var unknown = await RbeeAsync(home, "logs", "no-such-worker", "--queen-url", q);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("rbee ps", unknown.Stderr);
    }
}
