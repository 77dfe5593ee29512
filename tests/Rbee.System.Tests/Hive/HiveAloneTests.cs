using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Channels;
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
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan SubscriptionExpected = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Start = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(10);

    private readonly string _home = Directory.CreateTempSubdirectory("rbee-hive-home-").FullName;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private readonly List<DaemonProcess> _processes = [];
    private readonly List<string> _cgroupRoots = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var p in _processes) await p.DisposeAsync();
        _http.Dispose();
        RemoveCgroupRoots();
        Directory.Delete(_home, recursive: true);
    }

    private async Task<(DaemonProcess Process, string Url)> StartHive(string hiveId, string queenUrl, string? token = null)
    {
        var port = FreePort.Next();
        var env = new Dictionary<string, string?>
        {
            ["HOME"] = _home,
            ["RBEE_Protocol__TelemetryInterval"] = "0.2",
            ["RBEE_Protocol__ReadySchedule"] = "0,0.2,0.4,0.8,1.6",
            ["RBEE_Protocol__ReadyTryTimeout"] = "1",
            ["RBEE_Protocol__SubscriptionExpectedWithin"] = SubscriptionExpected.TotalSeconds.ToString(CultureInfo.InvariantCulture),
        };
        if (token is not null) env["RBEE_CLUSTER_TOKEN"] = token;
        var process = DaemonProcess.Start("rbee-hive",
            ["--port", port.ToString(CultureInfo.InvariantCulture), "--hive-id", hiveId, "--queen-url", queenUrl,
             "--cgroup-root", $"rbee-test-{hiveId}.slice", "--run-dir", Path.Combine(_home, "run")], env);
        _processes.Add(process);
        _cgroupRoots.Add($"rbee-test-{hiveId}.slice");
        var url = $"http://127.0.0.1:{port}";
        await WaitHealthy(url, process);
        return (process, url);
    }

    // A hive with the workers capability creates its (empty) cgroup root; leave the machine as it was.
    private void RemoveCgroupRoots()
    {
        foreach (var root in _cgroupRoots) Rbee.SystemTests.Infrastructure.CgroupRoots.Remove(root);
    }

    // A freshly started process announces nothing we can await; ask /health until it answers, bounded.
    private async Task WaitHealthy(string url, DaemonProcess process)
    {
        var until = DateTime.UtcNow + Start;
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"rbee-hive exited with {process.ExitCode} during start:\n{process.LogTail()}");
            try
            {
                using var r = await _http.GetAsync($"{url}/health");
                if (r.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException)
            {
            }
            if (DateTime.UtcNow > until) throw new TimeoutException($"phase start: rbee-hive not healthy at {url} within {Start.TotalSeconds} s:\n{process.LogTail()}");
            await Task.Delay(50);
        }
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> Get(string url, string? token = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

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
        var request = new HttpRequestMessage(HttpMethod.Get, $"{url}/v1/heartbeats/stream");
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return (response, SseReader.ReadAsync(await response.Content.ReadAsStreamAsync()).GetAsyncEnumerator());
    }

    private static async Task<JsonElement> NextFrame(IAsyncEnumerator<SseEvent> events, string phase)
    {
        var next = events.MoveNextAsync().AsTask();
        if (await Task.WhenAny(next, Task.Delay(Budget)) != next || !await next)
            throw new TimeoutException($"phase {phase}: expected a telemetry frame within {Budget.TotalSeconds} s");
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
        Assert.Equal(url, caps.GetProperty("hive_url").GetString());
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

        using var wrongMethod = await _http.PostAsync($"{url}/capabilities", null);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
        AssertErrorShape(JsonDocument.Parse(await wrongMethod.Content.ReadAsStringAsync()).RootElement, "invalid_request_error");

        using var malformed = await _http.PostAsync($"{url}/v1/shutdown", new StringContent("{\"stop_workers\": ", System.Text.Encoding.UTF8, "application/json"));
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

            using var refused = await _http.PostAsync($"{url}/v1/shutdown", null);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.False(hive.HasExited);

            using var shutdown = new HttpRequestMessage(HttpMethod.Post, $"{url}/v1/shutdown")
            {
                Content = new StringContent("{\"stop_workers\":true}", System.Text.Encoding.UTF8, "application/json"),
            };
            shutdown.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var accepted = await _http.SendAsync(shutdown);
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);

            // The subscriber sees its stream end, then the process exits cleanly.
            var ended = false;
            var until = DateTime.UtcNow + Budget;
            while (!ended && DateTime.UtcNow < until)
            {
                var next = events.MoveNextAsync().AsTask();
                ended = await Task.WhenAny(next, Task.Delay(Budget)) == next && !await next;
            }
            Assert.True(ended, "phase shutdown: the telemetry stream did not end");
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
        Assert.Equal(url, ready.GetProperty("hive_url").GetString());
        Assert.Equal(1, ready.GetProperty("protocol").GetInt32());
        var (_, health) = await Get($"{url}/health");
        Assert.Equal(health.GetProperty("instance_id").GetString(), ready.GetProperty("instance_id").GetString());
        Assert.StartsWith(queen.Url, health.GetProperty("queen_url").GetString());

        // Nobody subscribes: the hive tries again after SubscriptionExpectedWithin.
        await queen.NextReadyAsync("ready again without a subscription", SubscriptionExpected * 3 + Budget);

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
