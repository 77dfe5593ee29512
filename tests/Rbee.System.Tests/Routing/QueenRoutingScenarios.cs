using System.ClientModel;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;

namespace Rbee.SystemTests.Routing;

/// <summary>The queen is the OpenAI endpoint (real queen, two real hives, real llm-worker-rbee, the official client).</summary>
public sealed class RoutingClusterFixture : IAsyncLifetime
{
    public RoutingCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await RoutingCluster.StartAsync();

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

[Collection("System")]
[Trait("Category", "System")]
public sealed class QueenRoutingScenarios(RoutingClusterFixture fixture) : IClassFixture<RoutingClusterFixture>
{
    private static readonly TimeSpan Budget = RoutingCluster.Budget;
    private RoutingCluster C => fixture.Cluster;

    private ChatClient Chat(string model) => new(model, new ApiKeyCredential("not-needed-on-this-machine"),
        new OpenAIClientOptions { Endpoint = new Uri(C.V1), NetworkTimeout = Budget });

    private static string Json(object o) => JsonSerializer.Serialize(o);

    [Fact]
    public async Task CompletionsAndChat_ThroughTheQueen_AreExactlyTheWorkersOwnText_PlainAndStreamed()
    {
        C.Put(C.A, RoutingCluster.TinyModel, "tiny-text");
        await C.WaitListedAsync("tiny-text", Budget);
        var reference = JsonDocument.Parse(File.ReadAllText(RepoPaths.Model("aidreams260K.reference.json"))).RootElement.GetProperty("text").GetString();

        // The first request starts the worker on demand; its text is llama.cpp's greedy text.
        using (var response = await RoutingCluster.PostAsync(C.Queen.Url, "/v1/completions",
                   Json(new { model = "tiny-text", prompt = "Echoes", max_tokens = 64, temperature = 0 })))
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, body);
            Assert.Equal(reference, JsonDocument.Parse(body).RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
            Assert.Equal(C.A.HiveId, response.Headers.GetValues("X-Rbee-Hive").Single());
            Assert.StartsWith("req-", response.Headers.GetValues("X-Request-Id").Single());
        }
        var worker = Assert.Single(await C.WorkersAsync("tiny-text"));
        Assert.Equal("queen", worker.StartedBy);

        // Streamed through the queen: the same text, frame by frame.
        var streamed = new StringBuilder();
        using (var response = await RoutingCluster.PostAsync(C.Queen.Url, "/v1/completions",
                   Json(new { model = "tiny-text", prompt = "Echoes", max_tokens = 64, temperature = 0, stream = true })))
        {
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
            await foreach (var e in SseReader.ReadAsync(await response.Content.ReadAsStreamAsync(), CancellationToken.None))
                if (e.Data != "[DONE]") streamed.Append(JsonDocument.Parse(e.Data).RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
        }
        Assert.Equal(reference, streamed.ToString());

        // Chat with the official client: through the queen exactly what the worker answers directly.
        var messages = new List<ChatMessage> { new UserChatMessage("Tell me about dreams") };
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 32, Temperature = 0 };
        var viaQueen = (await Chat("tiny-text").CompleteChatAsync(messages, options)).Value.Content[0].Text;
        // The worker serves only its key, which the queen sends: not an anonymous caller, not the cluster token itself.
        var completion = Json(new { model = "tiny-text", prompt = "Echoes", max_tokens = 4 });
        using (var anonymous = await Http.Anonymous.PostAsync(worker.Url + "/v1/completions", new StringContent(completion, Encoding.UTF8, "application/json")))
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.StatusCode);
        using (var withToken = await RoutingCluster.PostAsync(worker.Url, "/v1/completions", completion, bearer: TestClusterToken.Value))
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, withToken.StatusCode);
        var cmdline = await File.ReadAllTextAsync($"/proc/{worker.Pid}/cmdline");
        Assert.DoesNotContain(TestClusterToken.WorkerKey(worker.Hive, worker.Port), cmdline);   // never on the command line
        var direct = new ChatClient("tiny-text", new ApiKeyCredential(TestClusterToken.WorkerKey(worker.Hive, worker.Port)),
            new OpenAIClientOptions { Endpoint = new Uri(worker.Url + "/v1") });
        Assert.Equal((await direct.CompleteChatAsync(messages, options)).Value.Content[0].Text, viaQueen);
        var chunks = new StringBuilder();
        await foreach (var update in Chat("tiny-text").CompleteChatStreamingAsync(messages, options))
            foreach (var part in update.ContentUpdate) chunks.Append(part.Text);
        Assert.Equal(viaQueen, chunks.ToString());
        Assert.Single(await C.WorkersAsync("tiny-text"));
    }

    [Fact]
    public async Task EveryRequest_HasATimelineOnTheQueensStream_AndItsIdInTheResponse()
    {
        C.Put(C.B, RoutingCluster.TinyModel, "tiny-timeline");
        await C.WaitListedAsync("tiny-timeline", Budget);
        var id = "test-" + Guid.NewGuid().ToString("N");
        var request = new HttpRequestMessage(HttpMethod.Post, C.Queen.Url + "/v1/completions")
        {
            Content = new StringContent(Json(new { model = "tiny-timeline", prompt = "Echoes", max_tokens = 4 }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Request-Id", id);
        using (var response = await Http.Client.SendAsync(request))
        {
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            Assert.Equal(id, response.Headers.GetValues("X-Request-Id").Single());
            Assert.Equal(C.B.HiveId, response.Headers.GetValues("X-Rbee-Hive").Single());
            Assert.StartsWith("http://127.0.0.1:", response.Headers.GetValues("X-Rbee-Worker").Single());
        }
        var phases = new List<string>();
        foreach (var expected in new[] { "received", "queued", "spawn_started", "worker_spawned", "worker_ready", "placed", "first_byte", "done" })
        {
            var e = await C.Stream.WaitForAsync("request timeline", $"phase {expected} of {id}", Budget, (name, d) =>
                name == "request" && d.GetProperty("request_id").GetString() == id && d.GetProperty("phase").GetString() == expected);
            phases.Add(expected);
            Assert.True(e.GetProperty("elapsed_ms").GetDouble() >= 0);
            if (expected == "done") Assert.Equal(200, e.GetProperty("status").GetInt32());
        }
    }

    [Fact]
    public async Task TheModelList_HasModelsOnDiskAndServedModels_AndAFileCopiedIntoAHiveAppearsWithin2s()
    {
        C.Put(C.A, RoutingCluster.TinyModel, "served-one");
        await C.WaitListedAsync("served-one", Budget);
        await C.SpawnAsync(C.A, "served-one");

        var copied = Stopwatch.StartNew();
        C.Put(C.B, RoutingCluster.TinyModel, "disk-only");
        await C.WaitListedAsync("disk-only", TimeSpan.FromSeconds(2) * ScaledTimers.Headroom);
        copied.Stop();

        var (status, list) = await Http.GetJsonAsync(C.V1 + "/models");
        Assert.Equal(System.Net.HttpStatusCode.OK, status);
        Assert.Equal("list", list.GetProperty("object").GetString());
        var ids = list.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ToList();
        Assert.Equal(ids.Distinct().Count(), ids.Count);
        var diskOnly = list.GetProperty("data").EnumerateArray().Single(m => m.GetProperty("id").GetString() == "disk-only");
        Assert.Equal("model", diskOnly.GetProperty("object").GetString());
        Assert.Equal("rbee", diskOnly.GetProperty("owned_by").GetString());
        Assert.Empty(diskOnly.GetProperty("rbee").GetProperty("loaded").EnumerateArray());
        Assert.Equal(C.B.HiveId, diskOnly.GetProperty("rbee").GetProperty("available_on")[0].GetProperty("hive_id").GetString());
        Assert.Equal(128, diskOnly.GetProperty("rbee").GetProperty("context_length").GetInt32());
        Assert.Equal(new FileInfo(RoutingCluster.TinyModel).Length, diskOnly.GetProperty("rbee").GetProperty("size_bytes").GetInt64());

        var (one, served) = await Http.GetJsonAsync(C.V1 + "/models/served-one");
        Assert.Equal(System.Net.HttpStatusCode.OK, one);
        var loaded = served.GetProperty("rbee").GetProperty("loaded")[0];
        Assert.Equal("ready", loaded.GetProperty("state").GetString());
        Assert.Equal(C.A.HiveId, loaded.GetProperty("hive_id").GetString());

        var (missing, error) = await Http.GetJsonAsync(C.V1 + "/models/no-such-model");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, missing);
        Assert.Equal("model_not_found", error.GetProperty("error").GetProperty("code").GetString());

        // A deleted file leaves the list too (nothing serves it).
        File.Delete(Path.Combine(C.ModelsDir(C.B), "disk-only.gguf"));
        await Eventually.HoldsAsync("model removed", "disk-only gone from /v1/models", TimeSpan.FromSeconds(2) * ScaledTimers.Headroom, async () =>
        {
            var (_, body) = await Http.GetJsonAsync(C.V1 + "/models");
            return (!body.GetProperty("data").EnumerateArray().Any(m => m.GetProperty("id").GetString() == "disk-only"), "still listed");
        });
    }

    [Fact]
    public async Task FiveConcurrentRequestsForAColdModel_StartExactlyOneWorker_AndAllSucceed()
    {
        C.Put(C.A, RoutingCluster.TinyModel, "cold-five");
        C.Put(C.B, RoutingCluster.TinyModel, "cold-five");
        await C.WaitListedAsync("cold-five", Budget);
        var answers = await Task.WhenAll(Enumerable.Range(0, 5).Select(async _ =>
            (await Chat("cold-five").CompleteChatAsync([new UserChatMessage("Hello")], new ChatCompletionOptions { MaxOutputTokenCount = 8 })).Value));
        Assert.All(answers, a => Assert.NotNull(a.Content[0].Text));
        var workers = await C.WorkersAsync("cold-five");
        Assert.Single(workers);
        Assert.Equal("queen", workers[0].StartedBy);
    }

    [Fact]
    public async Task RequestsInFlight_SpreadOverTwoWorkers_TheNextGoesToTheIdleOne()
    {
        // Placement by requests in flight, made observable without timing: each request is held open (a long streamed
        // answer, its first chunk read) before the next is sent, so the queen always sees one worker busy and one idle.
        // (A count of twenty short requests measured the machine's load instead: on a loaded machine they arrived one
        // after another, found both workers idle, and the tie-break sent most to one hive.)
        C.Put(C.A, RoutingCluster.SlowModel, "pair");
        C.Put(C.B, RoutingCluster.SlowModel, "pair");
        await C.WaitListedAsync("pair", Budget);
        await C.SpawnAsync(C.A, "pair");
        await C.SpawnAsync(C.B, "pair");
        for (var round = 0; round < 3; round++)
        {
            using var first = await OpenStreamAsync();
            using var second = await OpenStreamAsync();
            var hives = new[] { first.Headers.GetValues("X-Rbee-Hive").Single(), second.Headers.GetValues("X-Rbee-Hive").Single() };
            Assert.Equal([C.A.HiveId, C.B.HiveId], hives.Order(StringComparer.Ordinal));
        } // disposing both ends them (client departure); the next round starts with both workers idle again
    }

    /// <summary>A long streamed completion through the queen, once its first chunk has arrived (the request is placed
    /// and generating).</summary>
    private async Task<HttpResponseMessage> OpenStreamAsync()
    {
        var response = await RoutingCluster.PostAsync(C.Queen.Url, "/v1/completions",
            Json(new { model = "pair", prompt = "Echoes", max_tokens = 3000, ignore_eos = true, stream = true }));
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}");
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        using var cts = new CancellationTokenSource(Budget);
        while (await reader.ReadLineAsync(cts.Token) is { } line)
            if (line.StartsWith("data: {", StringComparison.Ordinal)) return response;
        throw new InvalidOperationException("the stream ended before its first chunk");
    }

    [Fact]
    public async Task AWorkerKilledBeforeItAnswers_TheRequestSucceedsOnTheOtherWorker()
    {
        C.Put(C.A, RoutingCluster.SlowModel, "slow-retry");
        C.Put(C.B, RoutingCluster.SlowModel, "slow-retry");
        await C.WaitListedAsync("slow-retry", Budget);
        var a = await C.SpawnAsync(C.A, "slow-retry");
        var b = await C.SpawnAsync(C.B, "slow-retry");
        var id = "retry-" + Guid.NewGuid().ToString("N");

        var request = new HttpRequestMessage(HttpMethod.Post, C.Queen.Url + "/v1/completions")
        {
            Content = new StringContent(Json(new { model = "slow-retry", prompt = "go", max_tokens = 600, ignore_eos = true, temperature = 0 }),
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Request-Id", id);
        var sent = Http.Client.SendAsync(request);
        var placed = await C.Stream.WaitForAsync("placed", $"{id} placed", Budget, (name, d) =>
            name == "request" && d.GetProperty("request_id").GetString() == id && d.GetProperty("phase").GetString() == "placed");
        var victim = placed.GetProperty("hive_id").GetString() == C.A.HiveId ? a : b;
        var survivor = victim == a ? C.B.HiveId : C.A.HiveId;
        // Generating, not yet answered (a non-streamed answer is written at the end): the hard kill of a worker.
        Signals.Send(victim.Pid, Signals.SIGKILL);

        using var response = await sent;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        Assert.Equal(survivor, response.Headers.GetValues("X-Rbee-Hive").Single());
        Assert.Equal(600, JsonDocument.Parse(body).RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        await C.Stream.WaitForAsync("retried", $"{id} retried", Budget, (name, d) =>
            name == "request" && d.GetProperty("request_id").GetString() == id && d.GetProperty("phase").GetString() == "retried");
    }

    [Fact]
    public async Task AWorkerKilledMidStream_TheClientGetsAnErrorFrame_NotAHang()
    {
        C.Put(C.B, RoutingCluster.SlowModel, "slow-cut");
        await C.WaitListedAsync("slow-cut", Budget);
        using var response = await RoutingCluster.PostAsync(C.Queen.Url, "/v1/completions",
            Json(new { model = "slow-cut", prompt = "go", max_tokens = 3000, ignore_eos = true, stream = true }));
        Assert.True(response.IsSuccessStatusCode);
        var worker = Assert.Single(await C.WorkersAsync("slow-cut"));
        using var cts = new CancellationTokenSource(Budget);
        var frames = 0;
        string? error = null;
        await foreach (var e in SseReader.ReadAsync(await response.Content.ReadAsStreamAsync(), cts.Token))
        {
            using var doc = JsonDocument.Parse(e.Data);
            if (doc.RootElement.TryGetProperty("error", out var err))
            {
                error = err.GetProperty("message").GetString();
                break;
            }
            if (++frames == 3) Signals.Send(worker.Pid, Signals.SIGKILL);
        }
        Assert.NotNull(error);
        Assert.Contains("mid-answer", error);
    }

    [Fact]
    public async Task QueenAndHiveMetrics_CountTheRequestAndTheSpawn_ForThoseWithTheToken()
    {
        C.Put(C.A, RoutingCluster.TinyModel, "metrics-tiny");
        await C.WaitListedAsync("metrics-tiny", Budget);
        using (var response = await RoutingCluster.PostAsync(C.Queen.Url, "/v1/completions", Json(new { model = "metrics-tiny", prompt = "hi", max_tokens = 4 })))
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());

        var queen = await Http.Client.GetStringAsync($"{C.Queen.Url}/metrics");
        Assert.Matches("""rbee_queen_requests_total\{endpoint="/v1/completions",status="200"\} [1-9]""", queen);
        Assert.Matches("""rbee_queen_hives\{state="online"\} 2""", queen);
        Assert.Matches("""rbee_queen_workers\{state="ready"\} [1-9]""", queen);
        Assert.Matches("""rbee_queen_time_to_first_byte_seconds_count [1-9]""", queen);
        Assert.Matches("""rbee_queen_telemetry_frame_age_seconds\{hive="[^"]+"\} \d""", queen);
        var hive = await Http.Client.GetStringAsync($"{C.A.Url}/metrics");
        Assert.Matches("""rbee_hive_spawns_total\{type="llm",outcome="ready"\} [1-9]""", hive);
        Assert.Matches("""rbee_hive_workers\{state="ready"\} [1-9]""", hive);
        foreach (var url in new[] { C.Queen.Url, C.A.Url })
            using (var anonymous = await Http.Anonymous.GetAsync($"{url}/metrics"))
                Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    [Fact]
    public async Task AWorkerStoppedMidStream_EndsItsStreamWithoutDone_AndTheClientGetsAnErrorFrame()
    {
        C.Put(C.A, RoutingCluster.SlowModel, "slow-stop");
        await C.WaitListedAsync("slow-stop", Budget);
        using var response = await RoutingCluster.PostAsync(C.Queen.Url, "/v1/chat/completions",
            Json(new { model = "slow-stop", messages = new[] { new { role = "user", content = "go" } }, max_tokens = 3000, ignore_eos = true, stream = true }));
        Assert.True(response.IsSuccessStatusCode);
        var worker = Assert.Single(await C.WorkersAsync("slow-stop"));
        using var cts = new CancellationTokenSource(Budget);
        var frames = 0;
        string? error = null;
        var done = false;
        await foreach (var e in SseReader.ReadAsync(await response.Content.ReadAsStreamAsync(), cts.Token))
        {
            if (e.Data == "[DONE]") { done = true; break; }
            using var doc = JsonDocument.Parse(e.Data);
            if (doc.RootElement.TryGetProperty("error", out var err)) { error = err.GetProperty("message").GetString(); break; }
            // A graceful stop: the worker cancels its requests and closes each stream cleanly, without [DONE].
            if (++frames == 3) Signals.Send(worker.Pid, Signals.SIGTERM);
        }
        Assert.False(done, "the stream of a stopped worker ended with [DONE], as if the answer were whole");
        Assert.NotNull(error);
        Assert.Contains("before the answer was complete", error);
    }

    [Fact]
    public async Task AClientThatLeavesMidStream_FreesTheWorkersSlotWithin1s()
    {
        C.Put(C.A, RoutingCluster.SlowModel, "slow-leave");
        await C.WaitListedAsync("slow-leave", Budget);
        var response = await RoutingCluster.PostAsync(C.Queen.Url, "/v1/completions",
            Json(new { model = "slow-leave", prompt = "go", max_tokens = 3000, ignore_eos = true, stream = true }));
        var worker = Assert.Single(await C.WorkersAsync("slow-leave"));
        var frames = SseReader.ReadAsync(await response.Content.ReadAsStreamAsync(), CancellationToken.None).GetAsyncEnumerator();
        for (var i = 0; i < 3; i++) Assert.True(await frames.MoveNextAsync());
        Assert.Equal(1, await RoutingCluster.SlotsBusyAsync(worker.Url));

        // Leaving: the response's stream is closed mid-answer, and with it the connection (Http.Client drains nothing).
        var left = Stopwatch.StartNew();
        await frames.DisposeAsync();
        response.Dispose();
        await Eventually.HoldsAsync("client left", "the worker's slot free again", TimeSpan.FromSeconds(1) * ScaledTimers.Headroom, async () =>
        {
            var busy = await RoutingCluster.SlotsBusyAsync(worker.Url);
            return (busy == 0, $"rbee_worker_slots_busy {busy} after {left.ElapsedMilliseconds} ms");
        });
    }

    [Fact]
    public async Task TheInferJob_StreamsTokensThroughTheSameScheduling()
    {
        C.Put(C.B, RoutingCluster.TinyModel, "tiny-job");
        await C.WaitListedAsync("tiny-job", Budget);
        var (lines, terminal) = await Jobs.RunAsync(C.Queen.Url,
            Json(new { operation = "infer", model = "tiny-job", prompt = "Echoes", max_tokens = 64, temperature = 0 }), Budget);
        Assert.True(terminal == "[DONE]", string.Join(" | ", lines));
        var text = new StringBuilder();
        JsonElement? done = null;
        foreach (var line in lines.Where(l => l.StartsWith('{')))
        {
            var e = JsonDocument.Parse(line).RootElement;
            if (e.GetProperty("event").GetString() == "token") text.Append(e.GetProperty("text").GetString());
            if (e.GetProperty("event").GetString() == "done") done = e.Clone();
        }
        var reference = JsonDocument.Parse(File.ReadAllText(RepoPaths.Model("aidreams260K.reference.json"))).RootElement.GetProperty("text").GetString();
        Assert.Equal(reference, text.ToString());
        Assert.Equal(64, done!.Value.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Contains(lines, l => l.StartsWith("loading model on", StringComparison.Ordinal));
    }

    [Fact]
    public async Task BadRequests_GetTheRightErrorInOpenAisShape()
    {
        async Task Expect(int status, string code, string path, string body)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, C.Queen.Url + path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            // A large body waits for the server's go-ahead (as curl does): a refusal then comes as a status, not a reset.
            if (body.Length > 64 * 1024) request.Headers.ExpectContinue = true;
            using var r = await Http.Client.SendAsync(request);
            var text = await r.Content.ReadAsStringAsync();
            Assert.True((int)r.StatusCode == status, $"{path} {body[..Math.Min(body.Length, 60)]}: {(int)r.StatusCode} {text}");
            Assert.Equal(code, JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("code").GetString());
        }
        await Expect(400, "invalid_json", "/v1/chat/completions", "{\"model\":");
        await Expect(400, "missing_model", "/v1/chat/completions", "{\"messages\":[]}");
        await Expect(404, "model_not_found", "/v1/chat/completions", "{\"model\":\"no-such-model\",\"messages\":[]}");
        await Expect(404, "model_not_found", "/v1/embeddings", "{\"model\":\"no-such-model\",\"input\":\"x\"}");
        await Expect(404, "not_found", "/v1/no-such-endpoint", "{}");
        await Expect(413, "payload_too_large", "/v1/completions", "{\"model\":\"m\",\"prompt\":\"" + new string('x', 4 * 1024 * 1024) + "\"}");

        var e = await Assert.ThrowsAsync<ClientResultException>(() => Chat("no-such-model").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, e.Status);
    }
}
