using System.Text;
using System.Text.Json;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;

namespace Rbee.SystemTests.Routing;

/// <summary>Admission, access and hive loss at the queen, each on a cluster configured for it.</summary>
[Collection("System")]
[Trait("Category", "System")]
public sealed class QueenAdmissionScenarios
{
    private static readonly TimeSpan Budget = RoutingCluster.Budget;

    private static string Json(object o) => JsonSerializer.Serialize(o);

    private static string LongStream(string model) => Json(new { model, prompt = "go", max_tokens = 3000, ignore_eos = true, stream = true });

    [Fact]
    public async Task AFullQueue_Answers429WithRetryAfter_AndAWaitingStreamSeesItsPlaceAsComments()
    {
        await using var c = await RoutingCluster.StartAsync(new Dictionary<string, string>
        {
            ["RBEE_Scheduling__MaxInFlightPerWorker"] = "1",
            ["RBEE_Scheduling__MaxQueued"] = "1",
            ["RBEE_Scheduling__StreamHeadersAfter"] = "00:00:00.2",
        }, twoHives: false);
        c.Put(c.A, RoutingCluster.SlowModel, "slow-queue");
        await c.WaitListedAsync("slow-queue", Budget);

        // The worker's one place at the queen is taken by a long stream.
        using var first = await RoutingCluster.PostAsync(c.Queen.Url, "/v1/completions", LongStream("slow-queue"));
        Assert.True(first.IsSuccessStatusCode);
        await using var firstFrames = SseReader.ReadAsync(await first.Content.ReadAsStreamAsync(), CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await firstFrames.MoveNextAsync());

        // The second waits in the queue: after StreamHeadersAfter it has its 200 and a comment with its position.
        using var second = await RoutingCluster.PostAsync(c.Queen.Url, "/v1/completions", LongStream("slow-queue"));
        Assert.Equal(System.Net.HttpStatusCode.OK, second.StatusCode);
        Assert.Equal("text/event-stream", second.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await second.Content.ReadAsStreamAsync());
        using var lineTimeout = new CancellationTokenSource(Budget);
        Assert.Equal(": queued position=1", await reader.ReadLineAsync(lineTimeout.Token));

        // The third finds the queue full.
        using var third = await RoutingCluster.PostAsync(c.Queen.Url, "/v1/completions", Json(new { model = "slow-queue", prompt = "x" }));
        var body = await third.Content.ReadAsStringAsync();
        Assert.Equal(429, (int)third.StatusCode);
        Assert.True(third.Headers.RetryAfter?.Delta is { } after && after >= TimeSpan.FromSeconds(1), $"Retry-After: {third.Headers.RetryAfter}");
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("queue_full", error.GetProperty("code").GetString());
        Assert.Equal("rate_limit_error", error.GetProperty("type").GetString());

        // When the first ends (its client leaves), the second gets the worker: its data frames follow the comments.
        first.Dispose();
        string? line;
        while ((line = await reader.ReadLineAsync(lineTimeout.Token)) is not null && !line.StartsWith("data:", StringComparison.Ordinal)) { }
        Assert.NotNull(line);
        Assert.Contains("\"choices\"", line);
    }

    [Fact]
    public async Task WithApiKeys_AKeyIsNeeded_AndTheClusterTokenIsNotOne()
    {
        using var home = new TempHome();
        const string token = "cluster-token-for-the-keys-test";
        await using var queen = QueenNode.Start(home.Path, token: token, settings: new Dictionary<string, string>
        {
            ["RBEE_Api__Keys__0"] = "sk-first",
            ["RBEE_Api__Keys__1"] = "sk-second",
        });
        await queen.WaitHealthyAsync();
        async Task<(int, string?)> Call(string? bearer, string path = "/v1/chat/completions")
        {
            using var r = await RoutingCluster.PostAsync(queen.Url, path, Json(new { model = "nothing-here", messages = Array.Empty<object>() }), bearer);
            var text = await r.Content.ReadAsStringAsync();
            return ((int)r.StatusCode, JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("code").GetString());
        }
        Assert.Equal((401, "invalid_api_key"), await Call(null));
        Assert.Equal((401, "invalid_api_key"), await Call("sk-third"));
        Assert.Equal((401, "invalid_api_key"), await Call(token));
        // A valid key gets past the door: the model is simply not there.
        Assert.Equal((404, "model_not_found"), await Call("sk-second"));
        var (status, models) = await Http.GetJsonAsync(queen.Url + "/v1/models", "sk-first");
        Assert.Equal(System.Net.HttpStatusCode.OK, status);
        Assert.Equal("list", models.GetProperty("object").GetString());
        // ... and an API key opens nothing of the control plane.
        var (cluster, _) = await Http.GetJsonAsync(queen.Url + "/v1/cluster", "sk-first");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, cluster);
        Assert.Contains("require an API key", queen.Process.LogTail());
    }

    [Fact]
    public async Task AHiveGoingOffline_TakesItsWorkersOutOfSchedulingAtOnce()
    {
        await using var c = await RoutingCluster.StartAsync();
        c.Put(c.A, RoutingCluster.TinyModel, "split");
        c.Put(c.B, RoutingCluster.TinyModel, "split");
        await c.WaitListedAsync("split", Budget);
        await c.SpawnAsync(c.A, "split");
        var orphan = await c.SpawnAsync(c.B, "split");

        // Hive B dies hard; its worker lives on (workers outlive their hive) but the queen no longer sees it.
        c.B.Process.Signal(Signals.SIGKILL);
        await c.Stream.WaitForStateAsync("hive B offline", c.B.HiveId, "offline", Budget);
        Assert.True(Signals.IsAlive(orphan.Pid));
        for (var i = 0; i < 6; i++)
        {
            using var r = await RoutingCluster.PostAsync(c.Queen.Url, "/v1/completions", Json(new { model = "split", prompt = "Echoes", max_tokens = 4 }));
            Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
            Assert.Equal(c.A.HiveId, r.Headers.GetValues("X-Rbee-Hive").Single());
        }
    }

    [Fact]
    public async Task AnIdleWorkerTheQueenStarted_IsStoppedAfterTheIdleTimeout_AndAPersonsWorkerIsNot()
    {
        await using var c = await RoutingCluster.StartAsync(new Dictionary<string, string>
        {
            ["RBEE_Scheduling__IdleTimeout"] = "00:00:02",
        }, twoHives: false);
        c.Put(c.A, RoutingCluster.TinyModel, "idle-auto");
        c.Put(c.A, RoutingCluster.TinyModel, "idle-manual");
        await c.WaitListedAsync("idle-manual", Budget);
        var manual = await c.SpawnAsync(c.A, "idle-manual");
        Assert.NotEmpty(await RoutingCluster.CompleteAsync(c.Queen.Url, "idle-auto", "Echoes", 4));
        var auto = Assert.Single(await c.WorkersAsync("idle-auto"));
        Assert.Equal("queen", auto.StartedBy);

        // The view says when the timeout will stop it, and that it will never stop the person's worker.
        var workers = (await c.Queen.ClusterAsync()).GetProperty("hives")[0].GetProperty("workers").EnumerateArray().ToList();
        var autoView = workers.Single(w => w.GetProperty("port").GetInt32() == auto.Port);
        Assert.Equal(JsonValueKind.String, autoView.GetProperty("idle_stop_at").ValueKind);
        Assert.Equal(0, autoView.GetProperty("in_flight").GetInt32());
        Assert.Equal(JsonValueKind.String, autoView.GetProperty("last_used_at").ValueKind);
        Assert.Equal(JsonValueKind.Null, workers.Single(w => w.GetProperty("port").GetInt32() == manual.Port).GetProperty("idle_stop_at").ValueKind);

        await c.Stream.WaitForAsync("idle stop", $"worker {auto.Port} removed", Budget, (name, d) =>
            name == "worker_removed" && d.GetProperty("worker").GetProperty("port").GetInt32() == auto.Port);
        Assert.Contains(await c.WorkersAsync("idle-manual"), w => w.Port == manual.Port);
        Assert.Empty(await c.WorkersAsync("idle-auto"));
        // The audit log says who did each: the cold start is the request's (a local caller: no API keys configured), the
        // idle stop the queen's own.
        var audit = await File.ReadAllLinesAsync(Path.Combine(c.Queen.Home, ".local", "state", "rbee", "queen", "audit.log"));
        Assert.Contains(audit, l => l.Contains("\"actor\":\"local caller\"", StringComparison.Ordinal)
            && l.Contains("\"action\":\"worker_spawn\"", StringComparison.Ordinal) && l.Contains(" idle-auto ", StringComparison.Ordinal));
        Assert.Contains(audit, l => l.Contains("\"actor\":\"queen\"", StringComparison.Ordinal)
            && l.Contains("\"action\":\"worker_stop\"", StringComparison.Ordinal) && l.Contains($"idle-auto port {auto.Port}", StringComparison.Ordinal));
        // The model is still on disk: the next request starts a worker again.
        Assert.NotEmpty(await RoutingCluster.CompleteAsync(c.Queen.Url, "idle-auto", "Echoes", 4));
    }

    [Fact]
    public async Task AWorkerThatSaysItIsFull_IsNoFailure_TheRequestWaitsItsTurnAndSucceeds()
    {
        // The queen may send two requests at once, but the worker has one slot and no queue of its own: it answers the
        // second 503 queue_full, which must cost that request nothing but a wait.
        string[] args = ["--model", "{model}", "--model-id", "{model_id}", "--port", "{port}", "--host", "{host}", "--worker-id", "{worker_id}",
            "--ready-file", "{ready_file}", "--queue-size", "0"];
        await using var c = await RoutingCluster.StartAsync(
            new Dictionary<string, string> { ["RBEE_Scheduling__MaxInFlightPerWorker"] = "2" },
            twoHives: false,
            hiveSettings: args.Select((a, i) => (Key: $"RBEE_Workers__Types__llm__Arguments__{i}", a)).ToDictionary(x => x.Key, x => x.a));
        c.Put(c.A, RoutingCluster.SlowModel, "slow-full");
        await c.WaitListedAsync("slow-full", Budget);
        await c.SpawnAsync(c.A, "slow-full");

        var ids = new[] { "full-1-" + Guid.NewGuid().ToString("N"), "full-2-" + Guid.NewGuid().ToString("N") };
        var answers = await Task.WhenAll(ids.Select(async id =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, c.Queen.Url + "/v1/completions")
            {
                Content = new StringContent(Json(new { model = "slow-full", prompt = "go", max_tokens = 200, ignore_eos = true }), Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("X-Request-Id", id);
            using var r = await Http.Client.SendAsync(request);
            return ((int)r.StatusCode, await r.Content.ReadAsStringAsync());
        }));
        Assert.All(answers, a => Assert.True(a.Item1 == 200, a.Item2));
        var busy = await c.Stream.WaitForAsync("worker busy", "a request retried because the worker was full", Budget, (name, d) =>
            name == "request" && ids.Contains(d.GetProperty("request_id").GetString()) && d.GetProperty("phase").GetString() == "retried");
        Assert.StartsWith("worker busy", busy.GetProperty("error").GetString());
        // Not a failure: the worker was never ejected.
        var worker = (await c.Queen.ClusterAsync()).GetProperty("hives")[0].GetProperty("workers")[0];
        Assert.Equal(JsonValueKind.Null, worker.GetProperty("ejected_until").ValueKind);
    }
}
