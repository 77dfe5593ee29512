using System.Text.Json;
using Rbee.SystemTests.Infrastructure;
using Rbee.SystemTests.Models;
using Rbee.Testing;
using Xunit.Abstractions;

namespace Rbee.SystemTests.Cli;

/// <summary>
/// The operator's commands (<c>rbee ls</c>, <c>run</c>, <c>ps</c>, <c>stop</c>, <c>pull</c>, <c>rm</c>) run as the real
/// <c>rbee</c> program against a real queen and hive whose workers are the real llm-worker-rbee. Each test has its own
/// cluster, HOME and model name, so they run beside the other system tests.
/// </summary>
[Collection("System")]
[Trait("Category", "System")]
public sealed class CliCommandScenarios(ITestOutputHelper output)
{
    private static readonly TimeSpan CliBudget = TimeSpan.FromSeconds(90);

    private static Dictionary<string, string?> Env(TempHome home) => new() { ["HOME"] = home.Path, ["NO_COLOR"] = "1" };

    private async Task<CliRun.Result> RbeeAsync(TempHome home, params string[] args)
    {
        var result = await CliRun.RunAsync(args, Env(home), CliBudget);
        output.WriteLine($"$ rbee {string.Join(' ', args)}\n{result}");
        return result;
    }

    [Fact]
    public async Task RunStartsAWorkerOnDemand_TheAnswerAloneOnStdout_PsShowsIt_StopFreesIt_AnUnknownModelIsOneLine()
    {
        using var home = new TempHome();
        await using var cluster = await RoutingCluster.StartAsync(twoHives: false);
        var model = "cli-run-" + FreePort.Next();
        cluster.Put(cluster.A, RoutingCluster.TinyModel, model);
        await cluster.WaitListedAsync(model, RoutingCluster.Budget);
        var q = cluster.Queen.Url;

        var ls = await RbeeAsync(home, "ls", "--queen-url", q);
        Assert.True(ls.ExitCode == 0, ls.ToString());
        var row = ls.Stdout.Split('\n').Single(l => l.Contains(model, StringComparison.Ordinal));
        Assert.Contains(cluster.A.HiveId, row);
        Assert.Contains("models_dir", row);

        var run = await RbeeAsync(home, "run", model, "Echoes", "of", "the", "past", "--queen-url", q);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.False(string.IsNullOrWhiteSpace(run.Stdout), run.ToString());
        // What the queen did meanwhile (queued, loading the model) is status, never part of the answer.
        Assert.DoesNotContain("loading model", run.Stdout);
        Assert.DoesNotContain("queued", run.Stdout);

        var ps = await RbeeAsync(home, "--json", "ps", "--queen-url", q);
        Assert.True(ps.ExitCode == 0, ps.ToString());
        var worker = Assert.Single(JsonDocument.Parse(ps.Stdout).RootElement.GetProperty("workers").EnumerateArray(),
            w => w.GetProperty("model").GetString() == model);
        Assert.Equal(cluster.A.HiveId, worker.GetProperty("hive_id").GetString());
        Assert.Equal("ready", worker.GetProperty("state").GetString());
        Assert.Equal("cpu", worker.GetProperty("device").GetString());
        Assert.Equal("queen", worker.GetProperty("started_by").GetString());
        var port = worker.GetProperty("port").GetInt32();
        Assert.Contains(model, (await RbeeAsync(home, "ps", "--queen-url", q)).Stdout);

        var stop = await RbeeAsync(home, "stop", model, "--queen-url", q);
        Assert.True(stop.ExitCode == 0, stop.ToString());
        Assert.Contains($"stopped {model} on {cluster.A.HiveId}:{port}", stop.Stdout);
        // stop returns once the worker has left the queen's view: the next ps no longer shows it.
        var after = await RbeeAsync(home, "ps", "--json", "--queen-url", q);
        Assert.DoesNotContain(model, after.Stdout);

        var unknown = await RbeeAsync(home, "run", "no-such-model", "hi", "--queen-url", q);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Equal("", unknown.Stdout);
        var line = Assert.Single(unknown.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("rbee ls", line);

        var nothing = await RbeeAsync(home, "stop", model, "--queen-url", q);
        Assert.Equal(1, nothing.ExitCode);
        Assert.Contains("rbee ps", nothing.Stderr);
    }

    [Fact]
    public async Task PullShowsProgressOnStderr_LsListsThePulledModel_RmDeletesIt()
    {
        using var home = new TempHome();
        await using var server = await TinyPull.StartServerAsync();
        await using var cluster = await RoutingCluster.StartAsync(twoHives: false, hiveSettings: TinyPull.HiveSettings(server));
        var q = cluster.Queen.Url;
        var name = "cli-pulled-" + FreePort.Next();

        var pull = await RbeeAsync(home, "pull", TinyPull.Source, "--name", name, "--json", "--queen-url", q);
        Assert.True(pull.ExitCode == 0, pull.ToString());
        var downloaded = Assert.Single(JsonDocument.Parse(pull.Stdout).RootElement.GetProperty("downloaded").EnumerateArray());
        Assert.Equal((name, cluster.A.HiveId, TinyPull.Sha256, (long)TinyPull.Model.Length),
            (downloaded.GetProperty("model").GetString(), downloaded.GetProperty("hive_id").GetString(),
                downloaded.GetProperty("sha256").GetString(), downloaded.GetProperty("size").GetInt64()));
        // Without a terminal the progress is plain lines on stderr, the last one complete.
        Assert.Contains($"{name} on {cluster.A.HiveId}: 100%", pull.Stderr);
        Assert.True(File.Exists(Path.Combine(cluster.ModelsDir(cluster.A), name + ".gguf")));

        await cluster.WaitListedAsync(name, RoutingCluster.Budget);
        var ls = await RbeeAsync(home, "ls", "--json", "--queen-url", q);
        Assert.True(ls.ExitCode == 0, ls.ToString());
        var listed = Assert.Single(JsonDocument.Parse(ls.Stdout).RootElement.GetProperty("models").EnumerateArray(),
            m => m.GetProperty("id").GetString() == name);
        Assert.Equal(TinyPull.Source, listed.GetProperty("origin").GetString());

        var rm = await RbeeAsync(home, "rm", name, "--hive", cluster.A.HiveId, "--queen-url", q);
        Assert.True(rm.ExitCode == 0, rm.ToString());
        Assert.Contains($"deleted {name} from {cluster.A.HiveId}", rm.Stdout);
        Assert.False(File.Exists(Path.Combine(cluster.ModelsDir(cluster.A), name + ".gguf")));

        var again = await RbeeAsync(home, "rm", name, "--hive", cluster.A.HiveId, "--queen-url", q);
        Assert.Equal(1, again.ExitCode);
        Assert.Single(again.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task WorkerSpawnStartsAPersonsWorker_ListShowsIt_StopByHiveAndPortFreesIt()
    {
        using var home = new TempHome();
        await using var cluster = await RoutingCluster.StartAsync(twoHives: false);
        var model = "cli-worker-" + FreePort.Next();
        cluster.Put(cluster.A, RoutingCluster.TinyModel, model);
        await cluster.WaitListedAsync(model, RoutingCluster.Budget);
        var q = cluster.Queen.Url;

        var spawn = await RbeeAsync(home, "worker", "spawn", model, "--json", "--queen-url", q);
        Assert.True(spawn.ExitCode == 0, spawn.ToString());
        var started = JsonDocument.Parse(spawn.Stdout).RootElement;
        Assert.Equal((cluster.A.HiveId, model, "cpu"), (started.GetProperty("hive_id").GetString(), started.GetProperty("model").GetString(), started.GetProperty("device").GetString()));
        var port = started.GetProperty("port").GetInt32();

        // The spawn ended once the worker was ready in the queen's view: listed at once, as a person's worker.
        var list = await RbeeAsync(home, "worker", "list", "--json", "--queen-url", q);
        var worker = Assert.Single(JsonDocument.Parse(list.Stdout).RootElement.GetProperty("workers").EnumerateArray(),
            w => w.GetProperty("model").GetString() == model);
        Assert.Equal((port, "ready", JsonValueKind.Null), (worker.GetProperty("port").GetInt32(), worker.GetProperty("state").GetString(), worker.GetProperty("started_by").ValueKind));

        var stop = await RbeeAsync(home, "worker", "stop", $"{cluster.A.HiveId}:{port}", "--queen-url", q);
        Assert.True(stop.ExitCode == 0, stop.ToString());
        Assert.DoesNotContain(model, (await RbeeAsync(home, "ps", "--json", "--queen-url", q)).Stdout);
    }

    [Fact]
    public async Task WithHiveUrl_LsSpawnPsRunStop_TalkToTheHiveDirectly_RunReusesOrStartsAWorker()
    {
        using var home = new TempHome();
        await using var cluster = await RoutingCluster.StartAsync(twoHives: false);
        var model = "cli-hive-" + FreePort.Next();
        cluster.Put(cluster.A, RoutingCluster.TinyModel, model);
        await cluster.WaitListedAsync(model, RoutingCluster.Budget);
        var h = cluster.A.Url;

        var ls = await RbeeAsync(home, "ls", "--json", "--hive-url", h);
        Assert.True(ls.ExitCode == 0, ls.ToString());
        var listed = Assert.Single(JsonDocument.Parse(ls.Stdout).RootElement.GetProperty("models").EnumerateArray(), m => m.GetProperty("id").GetString() == model);
        Assert.Equal(cluster.A.HiveId, listed.GetProperty("hive_id").GetString());

        var spawn = await RbeeAsync(home, "--hive-url", h, "worker", "spawn", model, "--json");
        Assert.True(spawn.ExitCode == 0, spawn.ToString());
        var port = JsonDocument.Parse(spawn.Stdout).RootElement.GetProperty("port").GetInt32();

        var ps = await RbeeAsync(home, "ps", "--json", "--hive-url", h);
        var worker = Assert.Single(JsonDocument.Parse(ps.Stdout).RootElement.GetProperty("workers").EnumerateArray(), w => w.GetProperty("model").GetString() == model);
        Assert.Equal((cluster.A.HiveId, port), (worker.GetProperty("hive_id").GetString(), worker.GetProperty("port").GetInt32()));

        // run reuses the ready worker and asks it directly.
        var reused = await RbeeAsync(home, "run", model, "Echoes", "--hive-url", h, "-p", "max_tokens=8");
        Assert.True(reused.ExitCode == 0 && reused.Stdout.Trim().Length > 0, reused.ToString());
        Assert.DoesNotContain("starting a worker", reused.Stderr);

        var stop = await RbeeAsync(home, "stop", model, "--hive-url", h);
        Assert.True(stop.ExitCode == 0, stop.ToString());
        Assert.DoesNotContain(model, (await RbeeAsync(home, "ps", "--json", "--hive-url", h)).Stdout);

        // With none running, run starts one on the hive first, saying so on stderr.
        var started = await RbeeAsync(home, "run", model, "Echoes", "--hive-url", h, "-p", "max_tokens=8");
        Assert.True(started.ExitCode == 0 && started.Stdout.Trim().Length > 0, started.ToString());
        Assert.Contains("starting a worker", started.Stderr);
        Assert.Single(JsonDocument.Parse((await RbeeAsync(home, "ps", "--json", "--hive-url", h)).Stdout).RootElement.GetProperty("workers").EnumerateArray(),
            w => w.GetProperty("model").GetString() == model);

        var status = await RbeeAsync(home, "status", "--hive-url", h);
        Assert.Equal(2, status.ExitCode);
        Assert.Contains("talks to the queen", status.Stderr);
    }
}
