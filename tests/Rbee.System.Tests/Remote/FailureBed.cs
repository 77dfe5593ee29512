using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using Rbee.SystemTests.Infrastructure;
using Rbee.SystemTests.Infrastructure.MultiHost;
using Rbee.Testing;

namespace Rbee.SystemTests.Remote;

/// <summary>
/// The failure scenarios' cluster on the multi-host bed: a queen, two hives installed and started over SSH (supervised by
/// the queen), each with one real llm-worker-rbee serving the same generated model from the hive user's own models
/// directory; and an HTTP client on the queen's network for the official OpenAI client, jobs and <c>/v1/cluster</c>.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FailureBed : IAsyncDisposable
{
    public const string Model = "fail-slow";

    /// <summary>An answer long enough to be seen in flight and stopped there (seconds of generation: 400 tokens once
    /// took 0.9 s on a fast day, and the whole answer had left the worker before the test's SIGSTOP reached it), short
    /// enough that it does not hold a worker's slot for long once it is retried elsewhere.</summary>
    public const int LongAnswer = 1600;
    public static readonly TimeSpan Budget = TimeSpan.FromSeconds(90);

    private FailureBed(TestBed bed, DaemonProcess queen, HttpClient http, string token)
    {
        Bed = bed;
        Queen = queen;
        Http = http;
        Token = token;
    }

    private readonly List<DaemonProcess> _killedQueens = [];

    public TestBed Bed { get; }
    public DaemonProcess Queen { get; private set; }
    public HttpClient Http { get; }
    public string Token { get; }

    public static async Task<FailureBed> StartAsync()
    {
        var bed = await TestBed.CreateAsync(hosts: 2);
        DaemonProcess? queen = null;
        HttpClient? http = null;
        try
        {
            var token = "bed-" + Guid.NewGuid().ToString("N");
            queen = bed.StartQueen(token);
            http = bed.QueenHttpClient();
            var c = new FailureBed(bed, queen, http, token);
            await Eventually.HoldsAsync("queen start", "the queen answers /v1/cluster on its network", Budget,
                async () => (await c.ClusterAsync() is not null, "no answer"), () => queen.LogTail());
            foreach (var host in bed.Hosts) await bed.PutModelAsync(host, RoutingCluster.SlowModel, Model);
            await Task.WhenAll(bed.Hosts.Select(h => bed.InstallAndStartHiveAsync(token, h)));
            foreach (var host in bed.Hosts)
                await c.WaitStateAsync("hive start", host.Alias, "online", Budget);
            foreach (var host in bed.Hosts) await c.SpawnAsync(host.Alias);
            return c;
        }
        catch
        {
            http?.Dispose();
            if (queen is not null) await queen.DisposeAsync();
            await bed.DisposeAsync();
            throw;
        }
    }

    /// <summary>SIGKILLs the queen (no shutdown of any kind: its hives and workers are left as a crash leaves them) and
    /// awaits its exit.</summary>
    public async Task KillQueenAsync()
    {
        Queen.Signal(Signals.SIGKILL);
        Assert.True(await Queen.WaitForExitAsync(Budget), "the queen outlived SIGKILL");
    }

    /// <summary>Starts the queen again, with the state directory the killed one had; returns once it answers.</summary>
    public async Task StartQueenAgainAsync()
    {
        _killedQueens.Add(Queen);
        Queen = Bed.StartQueen(Token);
        await Eventually.HoldsAsync("queen restart", "the restarted queen answers /v1/cluster", Budget,
            async () => (await ClusterAsync() is not null, "no answer"), () => Queen.LogTail());
    }

    /// <summary>Opens the queen's aggregate stream; events are collected from this moment on, so a state a hive passes
    /// through faster than a poll (offline for the moment the queen takes to restart it) is still seen.</summary>
    public Task<ClusterStream> OpenStreamAsync() => ClusterStream.OpenAsync(Bed.QueenUrl + "/v1/heartbeats/stream", Token, Queen, Http);

    /// <summary>Every hive of the bed as the queen lists it now.</summary>
    public async Task<Dictionary<string, HiveView>> HivesAsync()
    {
        var cluster = await ClusterAsync();
        return Bed.Hosts.ToDictionary(h => h.Alias, h => Hive(cluster, h.Alias));
    }

    /// <summary>The queen's <c>/v1/cluster</c>, or null when it does not answer 200 within 2 s.</summary>
    public async Task<JsonElement?> ClusterAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            using var request = new HttpRequestMessage(HttpMethod.Get, Bed.QueenUrl + "/v1/cluster");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            using var response = await Http.SendAsync(request, cts.Token);
            if (!response.IsSuccessStatusCode) return null;
            return JsonDocument.Parse(await response.Content.ReadAsStringAsync(cts.Token)).RootElement.Clone();
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            return null;
        }
    }

    public sealed record HiveView(string State, string? InstanceId, int Entries, IReadOnlyList<(int Port, int Pid, string Url, int InFlight)> Workers);

    /// <summary>The hive as the queen lists it (state "absent" when it does not); <see cref="HiveView.Entries"/> counts the
    /// entries with its id (one, never a duplicate).</summary>
    public static HiveView Hive(JsonElement? cluster, string hiveId)
    {
        if (cluster is not { } c) return new HiveView("no answer", null, 0, []);
        var entries = c.GetProperty("hives").EnumerateArray().Where(h => h.GetProperty("hive_id").GetString() == hiveId).ToList();
        if (entries.Count == 0) return new HiveView("absent", null, 0, []);
        var h = entries[0];
        var workers = h.GetProperty("workers").EnumerateArray()
            .Select(w => (w.GetProperty("port").GetInt32(), w.GetProperty("pid").GetInt32(), w.GetProperty("url").GetString()!,
                w.TryGetProperty("in_flight", out var n) && n.ValueKind == JsonValueKind.Number ? n.GetInt32() : 0)).ToList();
        return new HiveView(h.GetProperty("state").GetString()!, h.TryGetProperty("instance_id", out var i) ? i.GetString() : null, entries.Count, workers);
    }

    /// <summary>Awaits the queen listing <paramref name="hiveId"/> in <paramref name="state"/>; returns when it was seen.</summary>
    public async Task<HiveView> WaitStateAsync(string phase, string hiveId, string state, TimeSpan budget, Func<HiveView, bool>? also = null)
    {
        HiveView seen = new("unknown", null, 0, []);
        await Eventually.HoldsAsync(phase, $"{hiveId} {state} at the queen", budget, async () =>
        {
            seen = Hive(await ClusterAsync(), hiveId);
            return (seen.State == state && (also?.Invoke(seen) ?? true), $"{seen.State}, {seen.Entries} entr(ies), workers [{string.Join(", ", seen.Workers)}]");
        }, () => Queen.LogTail());
        return seen;
    }

    /// <summary>Spawns a worker of <see cref="Model"/> on the hive through the queen (a person's spawn) and awaits it in the view.</summary>
    public async Task SpawnAsync(string hiveId)
    {
        var json = $"{{\"operation\":\"worker_spawn\",\"hive_id\":\"{hiveId}\",\"model\":\"{Model}\",\"worker_type\":\"llm\",\"device\":\"cpu\"}}";
        using var cts = new CancellationTokenSource(Budget);
        using var post = new HttpRequestMessage(HttpMethod.Post, Bed.QueenUrl + "/v1/jobs") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var accepted = await Http.SendAsync(post, cts.Token);
        var body = await accepted.Content.ReadAsStringAsync(cts.Token);
        Assert.True(accepted.StatusCode == System.Net.HttpStatusCode.Accepted, $"POST /v1/jobs {json}: {(int)accepted.StatusCode} {body}");
        using var get = new HttpRequestMessage(HttpMethod.Get, Bed.QueenUrl + JsonDocument.Parse(body).RootElement.GetProperty("sse_url").GetString());
        get.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var stream = await Http.SendAsync(get, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var lines = new List<string>();
        await foreach (var e in SseReader.ReadAsync(await stream.Content.ReadAsStreamAsync(cts.Token), cts.Token))
        {
            lines.Add(e.Data);
            if (e.Data == "[DONE]" || e.Data == "[CANCELLED]" || e.Data.StartsWith("[ERROR]", StringComparison.Ordinal)) break;
        }
        Assert.True(lines.LastOrDefault() == "[DONE]", $"spawn on {hiveId}: {string.Join(" | ", lines)}\n{Queen.LogTail()}");
        await WaitStateAsync("worker spawned", hiveId, "online", Budget, h => h.Workers.Count == 1);
    }

    /// <summary>The official OpenAI client on the queen's network, with no retries of its own (each failure counts) and a
    /// network timeout longer than any test's bound on a request.</summary>
    public ChatClient Chat() => new(Model, new ApiKeyCredential("not-needed-on-the-queen's-network"), new OpenAIClientOptions
    {
        Endpoint = new Uri(Bed.QueenUrl + "/v1"),
        Transport = new HttpClientPipelineTransport(Http),
        RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        NetworkTimeout = TimeSpan.FromMinutes(5),
    });

    public sealed record Answer(int Status, string? Hive, string Body, TimeSpan Took);

    /// <summary>A long non-streamed completion through the queen (<paramref name="maxTokens"/> tokens, end of text ignored):
    /// its status, the hive that answered (<c>X-Rbee-Hive</c>) and its body; an HTTP failure is status 0 with its message.</summary>
    public async Task<Answer> CompleteAsync(int maxTokens, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var json = JsonSerializer.Serialize(new { model = Model, prompt = "Echoes", max_tokens = maxTokens, ignore_eos = true });
        using var request = new HttpRequestMessage(HttpMethod.Post, Bed.QueenUrl + "/v1/completions") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        try
        {
            using var response = await Http.SendAsync(request, ct);
            var hive = response.Headers.TryGetValues("X-Rbee-Hive", out var h) ? h.Single() : null;
            return new Answer((int)response.StatusCode, hive, await response.Content.ReadAsStringAsync(ct), clock.Elapsed);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return new Answer(0, null, e.Message, clock.Elapsed);
        }
    }

    /// <summary>Awaits the queen counting <paramref name="request"/> on one worker (its <c>in_flight</c> in
    /// <c>/v1/cluster</c>, the only request in flight); returns that worker. Fails when the request ends first.</summary>
    public async Task<(string Hive, int Port, int Pid)> WorkerOfAsync(Task request)
    {
        (string Hive, int Port, int Pid) busy = ("", 0, 0);
        await Eventually.HoldsAsync("request in flight", "one worker with the request in flight", Budget, async () =>
        {
            var view = await ClusterAsync();
            var counted = Bed.Hosts.SelectMany(h => Hive(view, h.Alias).Workers.Select(w => (h.Alias, w))).ToList();
            var found = counted.Where(x => x.w.InFlight > 0).ToList();
            if (found.Count == 1) busy = (found[0].Alias, found[0].w.Port, found[0].w.Pid);
            return (found.Count == 1 || request.IsCompleted, string.Join(", ", counted.Select(x => $"{x.Alias}:{x.w.Port} in flight {x.w.InFlight}")));
        }, () => Queen.LogTail());
        Assert.False(request.IsCompleted, "the request ended before the test could act on it (a faster machine needs a longer FailureBed.LongAnswer)");
        return busy;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Queen.DisposeAsync();
        foreach (var q in _killedQueens) await q.DisposeAsync();
        await Bed.DisposeAsync();
    }
}

/// <summary>A request held in flight while a failure happens: how it ended, for the report and the asserts.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class HeldRequest(Task<FailureBed.Answer> task, string what)
{
    public Task<FailureBed.Answer> Task { get; } = task;
    public string Outcome { get; private set; } = "in flight";

    /// <summary>Awaits its end within <paramref name="bound"/> (else it is lost: the test fails) and asserts it succeeded.</summary>
    public async Task<FailureBed.Answer> SucceededAsync(TimeSpan bound, Func<string>? context = null)
    {
        if (await System.Threading.Tasks.Task.WhenAny(Task, System.Threading.Tasks.Task.Delay(bound)) != Task)
        {
            Outcome = "lost";
            Assert.Fail($"{what} was still unanswered after {bound.TotalSeconds:0} s (lost)\n{context?.Invoke()}");
        }
        var answer = await Task;
        Outcome = answer.Status == 200 ? $"succeeded on {answer.Hive} after {answer.Took.TotalSeconds:0.0} s" : $"failed with an error: {answer.Status} {answer.Body}";
        Assert.True(answer.Status == 200, $"{what}: {Outcome}");
        return answer;
    }

    public string Report() => $"{what}: sent 1, {Outcome}";
}

/// <summary>
/// Clients sending chat completions through the queen with the official OpenAI client, one after another per client,
/// each counted as succeeded (with the hive that served it), failed with an error, or lost (no answer and no error within
/// <see cref="LostAfter"/>; the product must never leave a request there).
/// </summary>
public sealed class ChatLoad
{
    public static readonly TimeSpan LostAfter = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(200);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _clients = [];
    private int _sent, _succeeded, _failed, _lost;

    public sealed record Outcome(TimeSpan Sent, TimeSpan Ended, string Kind, string? Hive, string? Error);

    public ConcurrentQueue<Outcome> Outcomes { get; } = new();
    public TimeSpan Now => _clock.Elapsed;
    public int Sent => Volatile.Read(ref _sent);
    public int Succeeded => Volatile.Read(ref _succeeded);
    public int Failed => Volatile.Read(ref _failed);
    public int Lost => Volatile.Read(ref _lost);

    public static ChatLoad Start(ChatClient chat, int clients, int maxTokens)
    {
        var load = new ChatLoad();
        for (var i = 0; i < clients; i++)
        {
            var client = i;
            load._clients.Add(Task.Run(() => load.RunClientAsync(chat, client, maxTokens)));
        }
        return load;
    }

    private async Task RunClientAsync(ChatClient chat, int client, int maxTokens)
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = maxTokens, Temperature = 0 };
        for (var n = 0; !_stop.IsCancellationRequested; n++)
        {
            List<ChatMessage> messages = [new UserChatMessage($"client {client} request {n}: tell me about dreams")];
            var sent = _clock.Elapsed;
            Interlocked.Increment(ref _sent);
            using var lostAfter = new CancellationTokenSource(LostAfter);
            try
            {
                var result = await chat.CompleteChatAsync(messages, options, lostAfter.Token);
                var hive = result.GetRawResponse().Headers.TryGetValue("X-Rbee-Hive", out var h) ? h : null;
                Interlocked.Increment(ref _succeeded);
                Outcomes.Enqueue(new Outcome(sent, _clock.Elapsed, "succeeded", hive, null));
            }
            catch (OperationCanceledException) when (lostAfter.IsCancellationRequested)
            {
                Interlocked.Increment(ref _lost);
                Outcomes.Enqueue(new Outcome(sent, _clock.Elapsed, "lost", null, $"no answer nor error within {LostAfter.TotalSeconds} s"));
            }
            catch (Exception e) when (e is ClientResultException or HttpRequestException or IOException)
            {
                Interlocked.Increment(ref _failed);
                Outcomes.Enqueue(new Outcome(sent, _clock.Elapsed, "failed", null, e.Message));
                // As a client would, it waits a moment before the next try instead of spinning on a queen that is away.
                try { await Task.Delay(RetryPause, _stop.Token); } catch (OperationCanceledException) { }
            }
        }
    }

    /// <summary>Requests that succeeded on <paramref name="hive"/> and were sent at or after <paramref name="since"/>.</summary>
    public int SucceededOn(string hive, TimeSpan since) =>
        Outcomes.Count(o => o.Kind == "succeeded" && o.Hive == hive && o.Sent >= since);

    /// <summary>Stops sending; awaits the requests in flight (each ends by <see cref="LostAfter"/> at the latest).</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_clients);
        _stop.Dispose();
    }

    public string Report() => $"requests sent {Sent}, succeeded {Succeeded}, failed with an error {Failed}, lost {Lost}; by hive: " +
        string.Join(", ", Outcomes.Where(o => o.Kind == "succeeded").GroupBy(o => o.Hive ?? "?").OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => $"{g.Key} {g.Count()}")) +
        (Failed + Lost > 0 ? "; errors: " + string.Join(" | ", Outcomes.Where(o => o.Kind != "succeeded")
            .GroupBy(o => $"{o.Kind}: {o.Error}")
            .Select(g => $"{g.Count()}x sent {g.Min(o => o.Sent).TotalSeconds:0.0}-{g.Max(o => o.Sent).TotalSeconds:0.0} s, {g.Key}")) : "");

    /// <summary>Requests that failed or were lost and were sent at or after <paramref name="since"/>, with their errors.</summary>
    public string[] NotSucceededSince(TimeSpan since) =>
        [.. Outcomes.Where(o => o.Kind != "succeeded" && o.Sent >= since).Select(o => $"{o.Sent.TotalSeconds:0.0}s {o.Kind}: {o.Error}")];
}
