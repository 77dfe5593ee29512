using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Threading.Channels;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;

namespace Rbee.SystemTests.Hive;

/// <summary>
/// rbee-hive as a real process on loopback, on its own (the queen's side is proven by the discovery tests): what it
/// serves, how it refuses, how it reaches for a queen. Timers are scaled down through RBEE_Protocol__… (DESIGN.md
/// "Testing on 2 cores"); waits come from them with 3x headroom.
/// </summary>
[Trait("Category", "System")]
[Collection("System")]
public sealed class HiveAloneTests : IAsyncLifetime
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(10);

    private readonly TempHome _home = new();
    private readonly List<HiveNode> _hives = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var hive in _hives) await hive.DisposeAsync();
        _home.Dispose();
    }

    private async Task<(DaemonProcess Process, string Url)> StartHive(string hiveId, string queenUrl, string? token = null)
    {
        // The hive's default bind (every address): with a token its hive_url must be one a remote queen can reach.
        var hive = HiveNode.Start(_home.Path, queenUrl, token, hiveId: hiveId, bind: null);
        _hives.Add(hive);
        await hive.WaitHealthyAsync();
        return (hive.Process, hive.Url);
    }

    private static Task<(HttpStatusCode Status, JsonElement Body)> Get(string url, string? token = null) => Http.GetJsonAsync(url, token);

    private static void AssertErrorShape(JsonElement body, string expectedType)
    {
        var error = body.GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.Equal(expectedType, error.GetProperty("type").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("code").GetString()));
        Assert.True(error.TryGetProperty("param", out _));
    }

    private async Task<(HttpResponseMessage Response, IAsyncEnumerator<SseEvent> Events)> Subscribe(string url, string? token = null)
    {
        var request = Http.Request(HttpMethod.Get, $"{url}/v1/heartbeats/stream", token);
        var response = await Http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return (response, SseReader.ReadAsync(await response.Content.ReadAsStreamAsync()).GetAsyncEnumerator());
    }

    private static async Task<JsonElement> NextFrame(IAsyncEnumerator<SseEvent> events, string phase)
    {
        string? seen = null;
        try
        {
            if (!await events.MoveNextAsync().AsTask().WaitAsync(Budget)) seen = "the stream ended";
        }
        catch (TimeoutException)
        {
            seen = "nothing";
        }
        if (seen is not null)
            throw new TimeoutException($"phase {phase}: expected a telemetry frame from rbee-hive within {Budget.TotalSeconds} s; seen: {seen}");
        Assert.Equal("telemetry", events.Current.Event);
        return JsonDocument.Parse(events.Current.Data).RootElement.Clone();
    }

    [Fact]
    public async Task HiveAlone_ServesHealthCapabilitiesAndTelemetry_AndRefusesBadInputInTheErrorShape()
    {
        var noQueen = $"http://127.0.0.1:{FreePort.Next()}";
        var (hive, url) = await StartHive("hive-alone", noQueen);

        var (_, health) = await Get($"{url}/health");
        Assert.Equal("hive-alone", health.GetProperty("hive_id").GetString());

        var (status, caps) = await Get($"{url}/capabilities");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("hive-alone", caps.GetProperty("hive_id").GetString());
        // Every daemon has a token now (issue 12), so a hive on every address advertises one a remote queen can reach.
        Assert.EndsWith($":{new Uri(url).Port}", caps.GetProperty("hive_url").GetString());
        Assert.Equal(health.GetProperty("instance_id").GetString(), caps.GetProperty("instance_id").GetString());
        Assert.Equal(1, caps.GetProperty("protocol").GetInt32());
        Assert.False(string.IsNullOrEmpty(caps.GetProperty("version").GetString()));
        Assert.Contains(caps.GetProperty("monitoring").GetProperty("mode").GetString(), new[] { "cgroup_v2", "process_groups" });
        var cpu = caps.GetProperty("devices")[0];
        Assert.Equal("cpu", cpu.GetProperty("id").GetString());
        Assert.True(cpu.GetProperty("cores").GetInt32() >= 1);
        Assert.True(cpu.GetProperty("ram_total_bytes").GetInt64() > 0);
        Assert.Equal(JsonValueKind.Array, caps.GetProperty("worker_types").ValueKind);

        var (aliasStatus, alias) = await Get($"{url}/v1/capabilities");
        Assert.Equal(HttpStatusCode.OK, aliasStatus);
        Assert.Equal(caps.GetProperty("instance_id").GetString(), alias.GetProperty("instance_id").GetString());

        // Telemetry: a frame at once, then frames numbered upward from the same instance.
        var (response, events) = await Subscribe(url);
        using (response)
        await using (events)
        {
            var first = await NextFrame(events, "first frame");
            Assert.Equal(caps.GetProperty("instance_id").GetString(), first.GetProperty("instance_id").GetString());
            var node = first.GetProperty("node");
            Assert.True(node.GetProperty("ram_total_bytes").GetInt64() > 0);
            Assert.True(node.GetProperty("ram_used_bytes").GetInt64() > 0);
            Assert.Empty(node.GetProperty("gpus").EnumerateArray());
            Assert.Equal(JsonValueKind.Array, first.GetProperty("workers").ValueKind);
            var seq = first.GetProperty("seq").GetInt64();
            for (var i = 1; i <= 3; i++)
            {
                var frame = await NextFrame(events, $"frame {i} after the first");
                Assert.Equal(seq + i, frame.GetProperty("seq").GetInt64());
                var cpuPct = frame.GetProperty("node").GetProperty("cpu_pct");
                if (cpuPct.ValueKind != JsonValueKind.Null) Assert.InRange(cpuPct.GetDouble(), 0, 100);
            }
        }

        foreach (var bad in new[] { "not-a-url", "ftp://queen:7833", "http://", "/relative" })
        {
            var (s, body) = await Get($"{url}/capabilities?queen_url={Uri.EscapeDataString(bad)}");
            Assert.Equal(HttpStatusCode.BadRequest, s);
            AssertErrorShape(body, "invalid_request_error");
            Assert.Equal("queen_url", body.GetProperty("error").GetProperty("param").GetString());
        }

        var (notFound, notFoundBody) = await Get($"{url}/v1/no-such-thing");
        Assert.Equal(HttpStatusCode.NotFound, notFound);
        AssertErrorShape(notFoundBody, "not_found_error");

        using var wrongMethod = await Http.Client.PostAsync($"{url}/capabilities", null);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
        AssertErrorShape(JsonDocument.Parse(await wrongMethod.Content.ReadAsStringAsync()).RootElement, "invalid_request_error");

        using var malformed = await Http.Client.PostAsync($"{url}/v1/shutdown", new StringContent("{\"stop_workers\": ", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.False(hive.HasExited);

        // SIGTERM is a graceful stop: exit code 0.
        hive.Signal(Signals.SIGTERM);
        Assert.True(await hive.WaitForExitAsync(Budget), $"rbee-hive still running {Budget.TotalSeconds} s after SIGTERM:\n{hive.LogTail()}");
        Assert.Equal(0, hive.ExitCode);
    }

    [Fact]
    public async Task WithToken_UnauthorisedQueenUrlIsRefusedAndChangesNothing_ShutdownStopsTheHive()
    {
        const string token = "system-test-token-7f3a";
        var noQueen = $"http://127.0.0.1:{FreePort.Next()}";
        var (hive, url) = await StartHive("hive-token", noQueen, token);

        var (_, before) = await Get($"{url}/health");
        var (status, body) = await Get($"{url}/capabilities?queen_url={Uri.EscapeDataString("http://127.0.0.1:9/evil")}");
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        AssertErrorShape(body, "authentication_error");
        (status, body) = await Get($"{url}/capabilities?queen_url={Uri.EscapeDataString("http://127.0.0.1:9/evil")}", "wrong-token");
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        var (_, after) = await Get($"{url}/health");
        Assert.Equal(before.GetProperty("queen_url").GetString(), after.GetProperty("queen_url").GetString());
        Assert.Equal(before.GetProperty("instance_id").GetString(), after.GetProperty("instance_id").GetString());

        // Open without queen_url; the stream needs the token.
        Assert.Equal(HttpStatusCode.OK, (await Get($"{url}/capabilities")).Status);
        var (streamStatus, streamBody) = await Get($"{url}/v1/heartbeats/stream");
        Assert.Equal(HttpStatusCode.Unauthorized, streamStatus);
        AssertErrorShape(streamBody, "authentication_error");

        // With a token the hive must be reachable from a remote queen: never a loopback hive_url when the machine has another address.
        var (_, caps) = await Get($"{url}/capabilities");
        var nonLoopback = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Any(a => a.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && !IPAddress.IsLoopback(a.Address));
        if (nonLoopback) Assert.DoesNotContain("127.0.0.1", caps.GetProperty("hive_url").GetString());

        var (response, events) = await Subscribe(url, token);
        using (response)
        await using (events)
        {
            await NextFrame(events, "authorised first frame");

            using var refused = await Http.Client.PostAsync($"{url}/v1/shutdown", null);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.False(hive.HasExited);

            using var shutdown = Http.Request(HttpMethod.Post, $"{url}/v1/shutdown", token);
            shutdown.Content = new StringContent("{\"stop_workers\":true}", System.Text.Encoding.UTF8, "application/json");
            using var accepted = await Http.Client.SendAsync(shutdown);
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);

            // The subscriber sees its stream end (frames sent before that are read past), then the process exits cleanly.
            var framesAfterShutdown = 0;
            var end = Task.Run(async () => { while (await events.MoveNextAsync()) framesAfterShutdown++; });
            var ended = true;
            try { await end.WaitAsync(Budget); }
            catch (TimeoutException) { ended = false; }
            Assert.True(ended, $"phase shutdown: the telemetry stream did not end within {Budget.TotalSeconds} s; seen: {framesAfterShutdown} frames after POST /v1/shutdown");
        }
        Assert.True(await hive.WaitForExitAsync(Budget), $"rbee-hive still running after POST /v1/shutdown:\n{hive.LogTail()}");
        Assert.Equal(0, hive.ExitCode);
        Assert.DoesNotContain(token, File.ReadAllText(hive.LogPath));
    }

    [Fact]
    public async Task ReadySequence_ReachesAQueenNamedByQueenUrl_AndRunsAgainWithoutASubscription_AndWhenTheStreamCloses()
    {
        // The hive is the system under test; this listener only records what it sends on the wire.
        await using var queen = ReadyRecorder.Start();
        var noQueen = $"http://127.0.0.1:{FreePort.Next()}";
        var (_, url) = await StartHive("hive-ready", noQueen);

        var (status, _) = await Get($"{url}/capabilities?queen_url={Uri.EscapeDataString(queen.Url)}");
        Assert.Equal(HttpStatusCode.OK, status);
        var ready = await queen.NextReadyAsync("ready after an authorised queen_url", Budget);
        Assert.Equal("hive-ready", ready.GetProperty("hive_id").GetString());
        // Every address bound and a token (always, issue 12): the hive_url is one a remote queen can reach, on the hive's port.
        Assert.EndsWith($":{new Uri(url).Port}", ready.GetProperty("hive_url").GetString());
        Assert.Equal(1, ready.GetProperty("protocol").GetInt32());
        var (_, health) = await Get($"{url}/health");
        Assert.Equal(health.GetProperty("instance_id").GetString(), ready.GetProperty("instance_id").GetString());
        Assert.StartsWith(queen.Url, health.GetProperty("queen_url").GetString());

        // Nobody subscribes: the hive tries again after SubscriptionExpectedWithin.
        await queen.NextReadyAsync("ready again without a subscription", ScaledTimers.SubscriptionExpectedWithin * 3 + Budget);

        // A subscription, then its close: the hive runs the sequence again.
        var (response, events) = await Subscribe(url);
        using (response)
        await using (events)
            await NextFrame(events, "first frame");
        queen.Drain();
        await queen.NextReadyAsync("ready after the stream closed", Budget);
    }

    /// <summary>Records every <c>POST /v1/hive/ready</c> sent to it and answers 200.</summary>
    private sealed class ReadyRecorder : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Channel<JsonElement> _readies = Channel.CreateUnbounded<JsonElement>();
        private readonly Task _loop;

        public string Url { get; }

        private ReadyRecorder(int port)
        {
            Url = $"http://127.0.0.1:{port}";
            _listener.Prefixes.Add(Url + "/");
            _listener.Start();
            _loop = Task.Run(LoopAsync);
        }

        public static ReadyRecorder Start() => new(FreePort.Next());

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext ctx;
                try
                {
                    ctx = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }
                if (ctx.Request.HttpMethod == "POST" && ctx.Request.Url?.AbsolutePath == "/v1/hive/ready")
                {
                    using var doc = await JsonDocument.ParseAsync(ctx.Request.InputStream);
                    _readies.Writer.TryWrite(doc.RootElement.Clone());
                    ctx.Response.StatusCode = 200;
                }
                else ctx.Response.StatusCode = 404;
                ctx.Response.Close();
            }
        }

        public void Drain()
        {
            while (_readies.Reader.TryRead(out _)) { }
        }

        public async Task<JsonElement> NextReadyAsync(string phase, TimeSpan budget)
        {
            using var limit = new CancellationTokenSource(budget);
            try
            {
                return await _readies.Reader.ReadAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"phase {phase}: no POST /v1/hive/ready within {budget.TotalSeconds} s");
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            _listener.Close();
            await _loop;
        }
    }
}
