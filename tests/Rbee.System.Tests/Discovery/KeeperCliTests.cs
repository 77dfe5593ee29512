using System.Text.Json;
using Rbee.SystemTests.Discovery;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;

namespace Rbee.SystemTests.Discovery;

[Trait("Category", "System")]
[Collection("System")]
public sealed class KeeperCliTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan CliBudget = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Status_ShowsTheHiveAsATableAndAsJson_AgainstARealQueen()
    {
        using var home = new TempHome();
        await using var queen = QueenNode.Start(home.Path);
        await queen.WaitHealthyAsync();
        await using var stream = await queen.OpenStreamAsync();
        await using var hive = HiveNode.Start(home.Path, queen.Url);
        await DiscoveryScenarios.WaitOnlineAsync("hive online", queen, stream, hive.HiveId, ScaledTimers.OnlineAfterLaterStart + ScaledTimers.ProcessStart);
        var env = new Dictionary<string, string?> { ["HOME"] = home.Path };

        var table = await CliRun.RunAsync(["status", "--queen-url", queen.Url], env, CliBudget);
        Assert.True(table.ExitCode == 0, table.ToString());
        var row = table.Stdout.Split('\n').Single(l => l.Contains(hive.HiveId, StringComparison.Ordinal));
        Assert.Contains("online", row);
        Assert.Contains("cpu", row);
        Assert.Contains("GiB", row);

        var json = await CliRun.RunAsync(["status", "--json", "--queen-url", queen.Url], env, CliBudget);
        Assert.True(json.ExitCode == 0, json.ToString());
        var view = JsonDocument.Parse(json.Stdout).RootElement;
        Assert.True(view.GetProperty("version").GetInt64() > 0);
        var listed = Assert.Single(view.GetProperty("hives").EnumerateArray());
        Assert.Equal(hive.HiveId, listed.GetProperty("hive_id").GetString());
        Assert.Equal("online", listed.GetProperty("state").GetString());
    }

    [Fact]
    public async Task Status_WithNoQueen_SaysHowToStartIt_InOneLine_AndExits1()
    {
        using var home = new TempHome();
        var result = await CliRun.RunAsync(["status", "--queen-url", $"http://127.0.0.1:{FreePort.Next()}"],
            new Dictionary<string, string?> { ["HOME"] = home.Path }, CliBudget);
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.Stdout);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("rbee up", line);
    }

    /// <summary>
    /// <c>rbee up</c> starts both daemons detached (they outlive the CLI), waits for the hive online and prints the
    /// endpoint; a second <c>up</c> attaches; <c>status</c> uses the token <c>up</c> created (0600); <c>down</c> stops
    /// both, verified.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task UpStatusDown_WithTheRealPrograms()
    {
        using var home = new TempHome(clusterToken: false);   // `up` creates the token file
        var queenUrl = $"http://127.0.0.1:{FreePort.Next()}";
        var hivePort = FreePort.Next().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var env = ScaledTimers.ProtocolEnvironment();
        env["HOME"] = home.Path;
        env["PATH"] = string.Join(':', RepoPaths.ExecutableDirectory("queen-rbee"), RepoPaths.ExecutableDirectory("rbee-hive"),
            Environment.GetEnvironmentVariable("PATH"));
        env["RBEE_Hive__CgroupRoot"] = $"rbee-test-up-{hivePort}.slice";
        env["RBEE_Hive__RunDir"] = Path.Combine(home.Path, "run");
        env["RBEE_Queen__SettleDelay"] = "00:00:00";
        string[] where = ["--queen-url", queenUrl, "--hive-port", hivePort];
        try
        {
            var up = await CliRun.RunAsync(["up", .. where, "--timeout", "60"], env, TimeSpan.FromSeconds(90));
            Assert.True(up.ExitCode == 0, up + DaemonLogs(home));
            Assert.Contains($"rbee is up: {queenUrl}/v1", up.Stdout);
            var tokenFile = Path.Combine(home.Path, ".config", "rbee", "token");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tokenFile));

            var again = await CliRun.RunAsync(["up", .. where], env, TimeSpan.FromSeconds(90));
            Assert.True(again.ExitCode == 0, again.ToString());
            Assert.Equal(2, again.Stdout.Split("attached").Length - 1);

            // The queen requires the token now; status reads it from the file up created.
            using (var anonymous = await Http.Anonymous.GetAsync($"{queenUrl}/v1/cluster"))
                Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.StatusCode);
            var status = await CliRun.RunAsync(["status", "--queen-url", queenUrl], env, CliBudget);
            Assert.True(status.ExitCode == 0, status.ToString());
            Assert.Contains("online", status.Stdout);

            // The daemons `up` started log to files, so their logs can be read through the queen.
            var hiveLogs = await CliRun.RunAsync(["hive", "logs", "-n", "50", "--queen-url", queenUrl], env, CliBudget);
            Assert.True(hiveLogs.ExitCode == 0, hiveLogs.ToString());
            Assert.Contains("accepted ready", hiveLogs.Stdout);
            Assert.Contains(Path.Combine(home.Path, ".local", "state", "rbee", "logs", "rbee-hive.log"), hiveLogs.Stderr);

            // config show: each value with its source; the token's source, never the token.
            var config = await CliRun.RunAsync(["config", "show", "--json", "--queen-url", queenUrl], env, CliBudget);
            Assert.True(config.ExitCode == 0, config.ToString());
            Assert.DoesNotContain(File.ReadAllText(tokenFile).Trim(), config.Stdout + config.Stderr);
            using (var shown = JsonDocument.Parse(config.Stdout))
            {
                var cli = shown.RootElement.GetProperty("cli").EnumerateArray().ToDictionary(e => e.GetProperty("key").GetString()!);
                Assert.Equal("flag --queen-url", cli["queen_url"].GetProperty("source").GetString());
                Assert.Equal($"file {tokenFile}", cli["cluster_token"].GetProperty("source").GetString());
                var queen = shown.RootElement.GetProperty("queen").GetProperty("entries").EnumerateArray().ToDictionary(e => e.GetProperty("key").GetString()!);
                Assert.Equal("flag", queen["Queen:Port"].GetProperty("source").GetString());
                Assert.Equal("00:00:00", queen["Queen:SettleDelay"].GetProperty("value").GetString());
                Assert.Equal("env RBEE_Queen__SettleDelay", queen["Queen:SettleDelay"].GetProperty("source").GetString());
            }

            var down = await CliRun.RunAsync(["down", .. where], env, TimeSpan.FromSeconds(60));
            Assert.True(down.ExitCode == 0, down.ToString());
            Assert.Contains("rbee is down", down.Stdout);
            // The CLI said who it runs as; the queen audited its shutdown with that claim next to the token.
            var audit = File.ReadAllLines(Path.Combine(home.Path, ".local", "state", "rbee", "queen", "audit.log"));
            var user = Rbee.Contracts.Protocol.ClaimedUser.OfThisProcess();
            Assert.Contains(audit, l => l.Contains("\"action\":\"shutdown\"", StringComparison.Ordinal)
                && l.Contains("\"actor\":\"cluster token\"", StringComparison.Ordinal)
                && (user is null || l.Contains($"\"claimed_user\":\"{user}\"", StringComparison.Ordinal)));
            Assert.True(FreePort.IsFree(new Uri(queenUrl).Port));
            Assert.True(FreePort.IsFree(int.Parse(hivePort, System.Globalization.CultureInfo.InvariantCulture)));
        }
        finally
        {
            output.WriteLine(DaemonLogs(home));
            // Whatever happened above, no daemon of this test outlives it, nor its cgroup root.
            foreach (var program in new[] { "queen-rbee", "rbee-hive" })
            {
                var pidFile = Path.Combine(home.Path, ".local", "state", "rbee", program + ".pid");
                if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid) && Signals.IsAlive(pid)
                    && File.ReadAllText($"/proc/{pid}/cmdline").Contains(program, StringComparison.Ordinal))
                    Signals.Send(pid, Signals.SIGKILL);
            }
            CgroupRoots.Remove($"rbee-test-up-{hivePort}.slice");
        }
    }

    /// <summary>The logs of the daemons `rbee up` started in <paramref name="home"/>, for a failure's message.</summary>
    private static string DaemonLogs(TempHome home)
    {
        var dir = Path.Combine(home.Path, ".local", "state", "rbee", "logs");
        if (!Directory.Exists(dir)) return "\n(no daemon logs)";
        return string.Concat(Directory.GetFiles(dir).Order(StringComparer.Ordinal).Select(f => $"\n--- {f}\n{File.ReadAllText(f)}"));
    }
}
