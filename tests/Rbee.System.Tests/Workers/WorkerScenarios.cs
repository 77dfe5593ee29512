using System.Diagnostics;
using System.Text.Json;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;

namespace Rbee.SystemTests.Workers;

/// <summary>Issue 4 with the real programs: a queen, hives with test cgroup roots, and real worker processes.</summary>
[Collection("System")]
[Trait("Category", "System")]
public sealed class WorkerScenarios
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(30);

    private static bool IsWorker(JsonElement d, string hiveId, int port, string? state = null) =>
        d.TryGetProperty("hive_id", out var h) && h.GetString() == hiveId
        && d.TryGetProperty("worker", out var w) && w.GetProperty("port").GetInt32() == port
        && (state is null || w.GetProperty("state").GetString() == state);

    private static IEnumerable<JsonElement> Workers(JsonElement cluster, string hiveId) =>
        cluster.GetProperty("hives").EnumerateArray().Where(h => h.GetProperty("hive_id").GetString() == hiveId)
            .SelectMany(h => h.GetProperty("workers").EnumerateArray());

    [Fact]
    public async Task SpawnThree_ConsecutivePortsAndCgroups_AllReadyAtTheQueen_KillOne_GoneFast_PortReused()
    {
        using var home = new TempHome();
        await using var queen = QueenNode.Start(home.Path);
        await queen.WaitHealthyAsync();
        await using var stream = await queen.OpenStreamAsync();
        await using var hive = HiveNode.Start(home.Path, queen.Url, testWorkers: true, servesFixtureModel: true);
        await stream.WaitForStateAsync("hive online", hive.HiveId, "online", Budget);

        var spawned = new List<(int Port, int Pid)>();
        for (var i = 0; i < 3; i++)
        {
            spawned.Add(await hive.SpawnAsync());
            await stream.WaitForAsync("ready at the queen", $"worker {spawned[^1].Port} ready", Budget,
                (name, d) => name is "worker_added" or "worker_state" && IsWorker(d, hive.HiveId, spawned[^1].Port, "ready"));
        }
        Assert.Equal([hive.BasePort, hive.BasePort + 1, hive.BasePort + 2], spawned.Select(s => s.Port));
        foreach (var (port, pid) in spawned)
            Assert.Contains(pid.ToString(System.Globalization.CultureInfo.InvariantCulture),
                File.ReadAllLines(Path.Combine(hive.CgroupRoot, "test", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "cgroup.procs")));
        var cluster = await queen.ClusterAsync();
        Assert.Equal(3, Workers(cluster, hive.HiveId).Count(w => w.GetProperty("state").GetString() == "ready"));

        var victim = spawned[1];
        var sw = Stopwatch.StartNew();
        Signals.Send(victim.Pid, Signals.SIGKILL);
        await stream.WaitForAsync("killed worker leaves the queen's view", $"worker_removed {victim.Port}", Budget,
            (name, d) => name == "worker_removed" && IsWorker(d, hive.HiveId, victim.Port));
        sw.Stop();
        // "well under 1 s" (issue 4); 3x headroom for a loaded 2-core machine. The benchmark reports the median.
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(3), $"worker_removed after {sw.ElapsedMilliseconds} ms");
        Assert.DoesNotContain(Workers(await queen.ClusterAsync(), hive.HiveId), w => w.GetProperty("port").GetInt32() == victim.Port);

        var again = await hive.SpawnAsync();
        Assert.Equal(victim.Port, again.Port);
    }

    [Fact]
    public async Task WorkersStartedBeforeAnyQueen_ALateQueenSeesThemAll_AndAKilledRestartedHiveReAdoptsThem()
    {
        using var home = new TempHome();
        var queenPort = FreePort.Next();
        await using var hive = HiveNode.Start(home.Path, $"http://127.0.0.1:{queenPort}", testWorkers: true, servesFixtureModel: true);
        await hive.WaitHealthyAsync();
        var a = await hive.SpawnAsync();
        var b = await hive.SpawnAsync();

        // The hive dies hard; its workers do not (own session, logs to files).
        hive.Process.Signal(Signals.SIGKILL);
        Assert.True(await hive.Process.WaitForExitAsync(Budget));
        Assert.True(Signals.IsAlive(a.Pid) && Signals.IsAlive(b.Pid), "a worker died with its hive");
        hive.Restart();
        await hive.WaitHealthyAsync();

        await using var queen = QueenNode.Start(home.Path, port: queenPort);
        await queen.WaitHealthyAsync();
        await using var stream = await queen.OpenStreamAsync();
        var frame = await stream.WaitForAsync("first frame at the late queen", "a telemetry frame with both workers", Budget,
            (name, d) => name == "telemetry" && d.GetProperty("hive_id").GetString() == hive.HiveId);
        var workers = frame.GetProperty("workers").EnumerateArray().ToList();
        Assert.Equal(2, workers.Count); // none duplicated
        Assert.Equal(new[] { a.Pid, b.Pid }.Order(), workers.Select(w => w.GetProperty("pid").GetInt32()).Order());
        Assert.All(workers, w => Assert.Equal("ready", w.GetProperty("state").GetString()));
        Assert.All(workers, w => Assert.Equal(HiveNode.Model, w.GetProperty("model").GetString()));

        // Ports were re-reserved: the next spawn takes the next port, not a re-adopted one.
        var c = await hive.SpawnAsync();
        Assert.Equal(hive.BasePort + 2, c.Port);

        // Hive SIGTERM: every worker stopped, nothing left in its tree (none orphaned).
        hive.Process.Signal(Signals.SIGTERM);
        Assert.True(await hive.Process.WaitForExitAsync(Budget), "hive did not exit on SIGTERM");
        Assert.Empty(hive.PidsInTree());
        Assert.False(Runs(a.Pid), $"re-adopted worker {a.Pid} still runs");
    }

    /// <summary>Alive and not a zombie (a killed worker whose new parent has not reaped it yet has ended).</summary>
    private static bool Runs(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    [Fact]
    public async Task AWorkerThatNeverGetsReady_IsKilled_AndTheJobEndsWithErrorAndItsReason()
    {
        using var home = new TempHome();
        await using var hive = HiveNode.Start(home.Path, $"http://127.0.0.1:{FreePort.Next()}", testWorkers: true, servesFixtureModel: true);
        await hive.WaitHealthyAsync();
        var (lines, terminal) = await hive.RunJobAsync(
            $"{{\"operation\":\"worker_spawn\",\"model\":\"{HiveNode.Model}\",\"worker_type\":\"never\"}}", Budget);
        Assert.StartsWith("[ERROR]", terminal, StringComparison.Ordinal);
        Assert.Contains("not ready within its load timeout", terminal, StringComparison.Ordinal);
        Assert.Contains("listening on", terminal, StringComparison.Ordinal); // the tail of its log
        Assert.Empty(hive.PidsInTree());
        Assert.False(Directory.Exists(Path.Combine(hive.CgroupRoot, "never", (hive.BasePort + 50).ToString(System.Globalization.CultureInfo.InvariantCulture))));
    }

    [Fact]
    public async Task BadSpawnRequests_Are400WithAnActionableReason_AndLeaveNothingBehind()
    {
        using var home = new TempHome();
        await using var hive = HiveNode.Start(home.Path, $"http://127.0.0.1:{FreePort.Next()}", testWorkers: true, servesFixtureModel: true);
        await hive.WaitHealthyAsync();
        (string Json, string Code)[] cases =
        [
            ($"{{\"operation\":\"worker_spawn\",\"model\":\"{HiveNode.Model}\",\"worker_type\":\"warp\"}}", "unknown_worker_type"),
            ($"{{\"operation\":\"worker_spawn\",\"model\":\"{HiveNode.Model}\",\"worker_type\":\"vllm\"}}", "worker_type_unavailable"),
            ("{\"operation\":\"worker_spawn\",\"model\":\"/nope/missing.gguf\",\"worker_type\":\"test\"}", "model_not_found"),
            ($"{{\"operation\":\"worker_spawn\",\"model\":\"{HiveNode.Model}\",\"worker_type\":\"test\",\"device\":\"cuda:7\"}}", "device_not_found"),
            ("{\"operation\":\"worker_spawn\",\"worker_type\":\"test\"}", "missing_field"),
            ("{\"operation\":\"worker_stop\"}", "missing_field"),
            ("{\"operation\":", "malformed_json"),
        ];
        foreach (var (json, code) in cases)
        {
            using var resp = await Http.Client.PostAsync($"{hive.Url}/v1/jobs", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
            var body = await resp.Content.ReadAsStringAsync();
            Assert.True(resp.StatusCode == System.Net.HttpStatusCode.BadRequest, $"{json}: {(int)resp.StatusCode} {body}");
            Assert.Equal(code, JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("code").GetString());
        }
        Assert.Empty(hive.PidsInTree());
        Assert.False(Directory.Exists(Path.Combine(hive.CgroupRoot, "test")) && Directory.EnumerateDirectories(Path.Combine(hive.CgroupRoot, "test")).Any());

        // hive_check: the monitoring mode and root, and every worker type with its availability.
        var (check, terminal) = await hive.RunJobAsync("{\"operation\":\"hive_check\"}", Budget);
        Assert.Equal("[DONE]", terminal);
        Assert.Contains(check, l => l.StartsWith("monitoring: cgroup_v2, root " + hive.CgroupRoot, StringComparison.Ordinal));
        Assert.Contains(check, l => l.StartsWith("worker type vllm: unavailable:", StringComparison.Ordinal));
        Assert.Contains(check, l => l.StartsWith("worker type test: available", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TheQueenForwardsSpawnAndStop_RelaysTheHivesNarration_AndCompletesOnItsOwnView()
    {
        using var home = new TempHome();
        await using var queen = QueenNode.Start(home.Path);
        await queen.WaitHealthyAsync();
        await using var stream = await queen.OpenStreamAsync();
        await using var hive = HiveNode.Start(home.Path, queen.Url, testWorkers: true, servesFixtureModel: true);
        await stream.WaitForStateAsync("hive online", hive.HiveId, "online", Budget);

        var (lines, terminal) = await Jobs.RunAsync(queen.Url,
            $"{{\"operation\":\"worker_spawn\",\"hive_id\":\"{hive.HiveId}\",\"model\":\"{HiveNode.Model}\",\"worker_type\":\"test\"}}", Budget);
        Assert.True(terminal == "[DONE]", string.Join(" | ", lines));
        Assert.Contains(lines, l => l.StartsWith($"[{hive.HiveId}] spawning test worker", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("is ready in the cluster view", StringComparison.Ordinal));
        // Completion means the queen's own view already has it ready: no wait needed here.
        var w = Assert.Single(Workers(await queen.ClusterAsync(), hive.HiveId));
        Assert.Equal("ready", w.GetProperty("state").GetString());
        Assert.Equal(hive.BasePort, w.GetProperty("port").GetInt32());

        (lines, terminal) = await Jobs.RunAsync(queen.Url,
            $"{{\"operation\":\"worker_stop\",\"hive_id\":\"{hive.HiveId}\",\"port\":{hive.BasePort}}}", Budget);
        Assert.True(terminal == "[DONE]", string.Join(" | ", lines));
        Assert.Empty(Workers(await queen.ClusterAsync(), hive.HiveId));
        Assert.Empty(hive.PidsInTree());
        // Both are in the queen's audit log: who (the cluster token's holder), what, on which hive.
        var audit = await File.ReadAllLinesAsync(Path.Combine(home.Path, ".local", "state", "rbee", "queen", "audit.log"));
        Assert.Contains(audit, l => l.Contains("\"action\":\"worker_spawn\"", StringComparison.Ordinal) && l.Contains(hive.HiveId, StringComparison.Ordinal));
        Assert.Contains(audit, l => l.Contains("\"action\":\"worker_stop\"", StringComparison.Ordinal) && l.Contains("\"actor\":\"cluster token\"", StringComparison.Ordinal));

        // Invalid on its face at the queen: 400 at once, naming the field.
        foreach (var (json, code) in new[]
        {
            ($"{{\"operation\":\"worker_spawn\",\"model\":\"{HiveNode.Model}\"}}", "missing_field"),
            ($"{{\"operation\":\"worker_spawn\",\"hive_id\":\"no-such-hive\",\"model\":\"{HiveNode.Model}\"}}", "hive_not_found"),
            ("{\"operation\":\"warp_drive\"}", "unknown_operation"),
        })
        {
            using var resp = await Http.Client.PostAsync($"{queen.Url}/v1/jobs", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
            var text = await resp.Content.ReadAsStringAsync();
            Assert.True(resp.StatusCode == System.Net.HttpStatusCode.BadRequest, $"{json}: {(int)resp.StatusCode} {text}");
            Assert.Equal(code, JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("code").GetString());
        }

        // A hive's refusal comes back as the queen job's [ERROR], with the hive's reason.
        (lines, terminal) = await Jobs.RunAsync(queen.Url,
            $"{{\"operation\":\"worker_spawn\",\"hive_id\":\"{hive.HiveId}\",\"model\":\"/nope.gguf\",\"worker_type\":\"test\"}}", Budget);
        Assert.StartsWith("[ERROR]", terminal, StringComparison.Ordinal);
        Assert.Contains("'/nope.gguf' is neither a model id of this hive's catalog nor a model file under the directories it serves", terminal, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ShutdownKeepingWorkers_LeavesThemForTheNextHive_ThenShutdownStopsThem_AndWorkerStopByPid()
    {
        using var home = new TempHome();
        await using var hive = HiveNode.Start(home.Path, $"http://127.0.0.1:{FreePort.Next()}", testWorkers: true, servesFixtureModel: true);
        await hive.WaitHealthyAsync();
        var a = await hive.SpawnAsync();
        var b = await hive.SpawnAsync();

        using (var resp = await Http.Client.PostAsync($"{hive.Url}/v1/shutdown", new StringContent("{\"stop_workers\":false}", System.Text.Encoding.UTF8, "application/json")))
            Assert.True(resp.IsSuccessStatusCode, $"{(int)resp.StatusCode}");
        Assert.True(await hive.Process.WaitForExitAsync(Budget), "hive did not stop");
        Assert.True(Runs(a.Pid) && Runs(b.Pid), "stop_workers:false stopped a worker");

        hive.Restart();
        await hive.WaitHealthyAsync();
        var (lines, terminal) = await hive.RunJobAsync($"{{\"operation\":\"worker_stop\",\"pid\":{b.Pid}}}", Budget);
        Assert.True(terminal == "[DONE]", string.Join(" | ", lines));
        Assert.False(Runs(b.Pid));
        (lines, terminal) = await hive.RunJobAsync("{\"operation\":\"worker_list\"}", Budget);
        Assert.Contains(lines, l => l.Contains($"test/{a.Port}", StringComparison.Ordinal) && l.Contains("worker.log", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains($"test/{b.Port}", StringComparison.Ordinal));

        using (var resp = await Http.Client.PostAsync($"{hive.Url}/v1/shutdown", new StringContent("{\"stop_workers\":true}", System.Text.Encoding.UTF8, "application/json")))
            Assert.True(resp.IsSuccessStatusCode, $"{(int)resp.StatusCode}");
        Assert.True(await hive.Process.WaitForExitAsync(Budget), "hive did not stop");
        Assert.Empty(hive.PidsInTree());
        Assert.False(Runs(a.Pid));
    }

    [Fact]
    public async Task Sigusr1_StopsTheHiveInRestartMode_ItsWorkerKeepsRunning_AndTheNextHiveReAdoptsIt()
    {
        // What the upgrade of a remote hive sends over SSH (rbee hive install --host while one runs).
        using var home = new TempHome();
        await using var hive = HiveNode.Start(home.Path, $"http://127.0.0.1:{FreePort.Next()}", testWorkers: true, servesFixtureModel: true);
        await hive.WaitHealthyAsync();
        var a = await hive.SpawnAsync();

        Signals.Send(hive.Process.Pid, 10); // SIGUSR1
        Assert.True(await hive.Process.WaitForExitAsync(Budget), "hive did not stop on SIGUSR1");
        Assert.True(Runs(a.Pid), "SIGUSR1 stopped the worker");
        Assert.Contains("SIGUSR1: stopping in restart mode", hive.Process.LogTail(200), StringComparison.Ordinal);

        hive.Restart();
        await hive.WaitHealthyAsync();
        var (lines, _) = await hive.RunJobAsync("{\"operation\":\"worker_list\"}", Budget);
        Assert.Contains(lines, l => l.Contains($"test/{a.Port}", StringComparison.Ordinal));
        Assert.Equal(new[] { a.Pid }, hive.PidsInTree());
    }

    [Fact]
    public async Task TheRealLlmWorker_IsSpawnedWithTheLaunchContract_ServesModels_AndItsExitIsSeen()
    {
        using var home = new TempHome();
        await using var hive = HiveNode.Start(home.Path, $"http://127.0.0.1:{FreePort.Next()}", testWorkers: true, servesFixtureModel: true);
        await hive.WaitHealthyAsync();
        var (port, pid) = await hive.SpawnAsync("llm");
        Assert.Equal(hive.BasePort + 90, port);
        var cmdline = (await File.ReadAllTextAsync($"/proc/{pid}/cmdline")).Split('\0');
        Assert.Contains("--ready-file", cmdline);
        Assert.Equal("127.0.0.1", cmdline[Array.IndexOf(cmdline, "--host") + 1]);
        // The hive gave the worker its key (in the environment, never on the command line): without it, 401.
        Assert.DoesNotContain(TestClusterToken.WorkerKey(hive.HiveId, port), cmdline);
        using (var anonymous = await Http.Anonymous.GetAsync($"http://127.0.0.1:{port}/v1/models"))
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.StatusCode);
        using (var models = await Http.Client.SendAsync(Http.Request(HttpMethod.Get, $"http://127.0.0.1:{port}/v1/models", TestClusterToken.WorkerKey(hive.HiveId, port))))
        {
            var body = await models.Content.ReadAsStringAsync();
            Assert.True(models.IsSuccessStatusCode, body);
            Assert.Contains("aidreams260K", body, StringComparison.Ordinal);
        }
        var (lines, _) = await hive.RunJobAsync("{\"operation\":\"worker_list\"}", Budget);
        Assert.Contains(lines, l => l.Contains($"llm/{port}", StringComparison.Ordinal) && l.Contains("ready", StringComparison.Ordinal));

        // The hive's own telemetry stream (armed before the kill) carries the exit in an immediate frame.
        using var cts = new CancellationTokenSource(Budget);
        using var telemetry = await Http.Client.GetAsync($"{hive.Url}/v1/heartbeats/stream", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var frames = SseReader.ReadAsync(await telemetry.Content.ReadAsStreamAsync(cts.Token), cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await frames.MoveNextAsync()); // the first frame: the worker is there
        Assert.Contains(JsonDocument.Parse(frames.Current.Data).RootElement.GetProperty("workers").EnumerateArray(), w => w.GetProperty("port").GetInt32() == port);
        Signals.Send(pid, Signals.SIGKILL);
        var gone = false;
        while (!gone && await frames.MoveNextAsync())
            gone = frames.Current.Event == "telemetry" && !JsonDocument.Parse(frames.Current.Data).RootElement.GetProperty("workers").EnumerateArray().Any(w => w.GetProperty("port").GetInt32() == port);
        await frames.DisposeAsync();
        Assert.True(gone, "the hive's stream ended before a frame without the killed worker");
        Assert.Empty(hive.PidsInTree());
    }

    [Fact]
    public async Task CancellingASpawnJob_StopsTheHalfStartedWorker_AndEndsWithCancelled()
    {
        using var home = new TempHome();
        await using var hive = HiveNode.Start(home.Path, $"http://127.0.0.1:{FreePort.Next()}", testWorkers: true, servesFixtureModel: true);
        await hive.WaitHealthyAsync();
        using var post = await Http.Client.PostAsync($"{hive.Url}/v1/jobs", new StringContent(
            $"{{\"operation\":\"worker_spawn\",\"model\":\"{HiveNode.Model}\",\"worker_type\":\"never\"}}", System.Text.Encoding.UTF8, "application/json"));
        var jobId = JsonDocument.Parse(await post.Content.ReadAsStringAsync()).RootElement.GetProperty("job_id").GetString();
        using var cts = new CancellationTokenSource(Budget);
        using var stream = await Http.Client.GetAsync($"{hive.Url}/v1/jobs/{jobId}/stream", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var lines = new List<string>();
        await foreach (var e in SseReader.ReadAsync(await stream.Content.ReadAsStreamAsync(cts.Token), cts.Token))
        {
            lines.Add(e.Data);
            if (e.Event == "data" && e.Data.Contains("\"spawned\"", StringComparison.Ordinal))
            {
                using var del = await Http.Client.DeleteAsync($"{hive.Url}/v1/jobs/{jobId}", cts.Token);
                Assert.Equal(System.Net.HttpStatusCode.Accepted, del.StatusCode);
            }
            if (e.Data.StartsWith('[')) break;
        }
        Assert.Equal("[CANCELLED]", lines[^1]);
        Assert.Empty(hive.PidsInTree());
        Assert.False(Directory.Exists(Path.Combine(hive.CgroupRoot, "never", (hive.BasePort + 50).ToString(System.Globalization.CultureInfo.InvariantCulture))));
    }
}
