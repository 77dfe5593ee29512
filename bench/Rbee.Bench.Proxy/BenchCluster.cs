using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Rbee.Testing;

namespace Rbee.Bench.Proxy;

/// <summary>
/// A real <c>queen-rbee</c> and <c>rbee-hive</c> on free loopback ports, with one <c>llm-worker-rbee</c> the hive started
/// through its <c>worker_spawn</c> job and the queen lists as ready. Everything lives under the benchmark's scratch folder
/// (HOME, run and state directories, logs) and a cgroup root of its own; disposing stops the hive (which stops its
/// worker), then the queen, then kills and removes whatever is left in the cgroup root.
/// </summary>
internal sealed class BenchCluster : IAsyncDisposable
{
    public const string ModelId = "aidreams260K";

    private const string HiveId = "bench-hive";
    private readonly HttpClient _http;
    private readonly string _cgroupRoot;

    private BenchCluster(DaemonProcess queen, DaemonProcess hive, string queenUrl, string cgroupRoot, HttpClient http)
    {
        Queen = queen;
        Hive = hive;
        QueenUrl = queenUrl;
        _cgroupRoot = cgroupRoot;
        _http = http;
    }

    public DaemonProcess Queen { get; }
    public DaemonProcess Hive { get; }
    public string QueenUrl { get; }
    public string WorkerUrl { get; private set; } = "";
    public int WorkerPid { get; private set; }

    /// <param name="queenEnvironment">Extra environment for the queen only (runtime knobs to compare, e.g.
    /// <c>DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0</c>).</param>
    public static async Task<BenchCluster> StartAsync(string scratch, IReadOnlyDictionary<string, string> queenEnvironment, CancellationToken ct)
    {
        var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(30) };
        var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
        var queenPort = FreePort.Next();
        var hivePort = FreePort.Next();
        // Worker ports above FreePort's range (20000-60000), so no daemon port lands among them.
        var workerBasePort = 60150 + Random.Shared.Next(0, 50) * 100;
        var cgroupRoot = $"rbee-bench-{Guid.NewGuid():N}.slice";
        var logs = Path.Combine(scratch, "logs");
        var queenUrl = $"http://127.0.0.1:{queenPort}";

        var queenEnv = new Dictionary<string, string?>
        {
            ["HOME"] = scratch,
            ["RBEE_CLUSTER_TOKEN"] = token,
            // Above the benchmark's concurrency: the queen forwards at once and never queues a request itself.
            ["RBEE_Scheduling__MaxInFlightPerWorker"] = "64",
        };
        foreach (var (key, value) in queenEnvironment) queenEnv[key] = value;
        var queen = DaemonProcess.Start("queen-rbee",
            ["--port", Invariant(queenPort), "--bind", "127.0.0.1", "--settle-delay", "0",
             // Per-request Information lines (the request log) would be CPU the queen spends on the console, not on routing.
             "--log-level", "Warning"],
            queenEnv, logs);
        DaemonProcess? hive = null;
        try
        {
            hive = DaemonProcess.Start("rbee-hive",
                ["--port", Invariant(hivePort), "--bind", "127.0.0.1", "--hive-id", HiveId, "--queen-url", queenUrl,
                 "--cgroup-root", cgroupRoot, "--run-dir", Path.Combine(scratch, "run"), "--state-dir", Path.Combine(scratch, "state")],
                new Dictionary<string, string?>
                {
                    ["HOME"] = scratch,
                    ["RBEE_CLUSTER_TOKEN"] = token,
                    ["RBEE_Workers__Types__llm__Executable"] = RepoPaths.Executable("llm-worker-rbee"),
                    ["RBEE_Workers__Types__llm__BasePort"] = Invariant(workerBasePort),
                    ["RBEE_Workers__Types__llm__PortCount"] = "20",
                }, logs);
            var cluster = new BenchCluster(queen, hive, queenUrl, cgroupRoot, http);
            await cluster.WaitHealthyAsync(queenUrl, queen, ct);
            await cluster.WaitHealthyAsync($"http://127.0.0.1:{hivePort}", hive, ct);
            await cluster.SpawnWorkerAsync($"http://127.0.0.1:{hivePort}", token, ct);
            await cluster.WaitModelReadyAsync(ct);
            return cluster;
        }
        catch
        {
            await StopAsync(hive, queen, cgroupRoot);
            http.Dispose();
            throw;
        }
    }

    /// <summary>The last lines of the daemons' logs, for a failure message.</summary>
    public string LogTails() => $"queen-rbee log:\n{Queen.LogTail(15)}\nrbee-hive log:\n{Hive.LogTail(15)}";

    private async Task SpawnWorkerAsync(string hiveUrl, string token, CancellationToken ct)
    {
        var body = JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["operation"] = "worker_spawn",
            ["model"] = RepoPaths.Model("aidreams260K.gguf"),
            ["worker_type"] = "llm",
            ["device"] = "cpu",
        });
        using var post = new HttpRequestMessage(HttpMethod.Post, $"{hiveUrl}/v1/jobs") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var posted = await _http.SendAsync(post, ct);
        var postedText = await posted.Content.ReadAsStringAsync(ct);
        if (!posted.IsSuccessStatusCode) throw new InvalidOperationException($"worker_spawn answered {(int)posted.StatusCode}: {postedText}");
        var sseUrl = JsonDocument.Parse(postedText).RootElement.GetProperty("sse_url").GetString();

        using var get = new HttpRequestMessage(HttpMethod.Get, hiveUrl + sseUrl);
        get.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var stream = await _http.SendAsync(get, HttpCompletionOption.ResponseHeadersRead, ct);
        var lines = new List<string>();
        await foreach (var e in SseReader.ReadAsync(await stream.Content.ReadAsStreamAsync(ct), ct))
        {
            lines.Add(e.Data);
            if (e.Data == "[DONE]")
            {
                if (WorkerPid == 0) break;
                return;
            }
            if (e.Data.StartsWith("[ERROR]", StringComparison.Ordinal)) break;
            if (e.Data.StartsWith('{') && JsonDocument.Parse(e.Data).RootElement is var d
                && d.TryGetProperty("event", out var name) && name.GetString() == "ready")
                WorkerPid = d.GetProperty("pid").GetInt32();
        }
        throw new InvalidOperationException($"worker_spawn did not end with a ready worker: {string.Join(" | ", lines)}\n{LogTails()}");
    }

    /// <summary>Until the queen's <c>GET /v1/models</c> lists the model with a ready worker: the queen routes to it now.</summary>
    private async Task WaitModelReadyAsync(CancellationToken ct)
    {
        var budget = TimeSpan.FromSeconds(60);
        var until = DateTime.UtcNow + budget;
        var seen = "";
        while (DateTime.UtcNow < until)
        {
            seen = await _http.GetStringAsync($"{QueenUrl}/v1/models", ct);
            foreach (var model in JsonDocument.Parse(seen).RootElement.GetProperty("data").EnumerateArray())
            {
                if (model.GetProperty("id").GetString() != ModelId) continue;
                foreach (var w in model.GetProperty("rbee").GetProperty("loaded").EnumerateArray())
                {
                    if (w.GetProperty("state").GetString() != "ready") continue;
                    WorkerUrl = w.GetProperty("worker_url").GetString()!.TrimEnd('/');
                    return;
                }
            }
            // The queen learns of the worker from the hive's next telemetry frame; nothing to await from here.
            await Task.Delay(100, ct);
        }
        throw new TimeoutException($"the queen's /v1/models did not list {ModelId} with a ready worker within {budget.TotalSeconds:0} s; last: {seen}\n{LogTails()}");
    }

    private async Task WaitHealthyAsync(string url, DaemonProcess process, CancellationToken ct)
    {
        var budget = TimeSpan.FromSeconds(30);
        var until = DateTime.UtcNow + budget;
        while (DateTime.UtcNow < until)
        {
            if (process.HasExited) throw new InvalidOperationException($"{process.Name} exited with {process.ExitCode} at start-up:\n{process.LogTail()}");
            try
            {
                using var r = await _http.GetAsync(url + "/health", ct);
                if (r.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(50, ct);
        }
        throw new TimeoutException($"{process.Name} at {url} not healthy within {budget.TotalSeconds:0} s:\n{process.LogTail()}");
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(Hive, Queen, _cgroupRoot);
        _http.Dispose();
    }

    private static async Task StopAsync(DaemonProcess? hive, DaemonProcess queen, string cgroupRoot)
    {
        if (hive is not null)
        {
            // A graceful stop: the hive stops its worker (SIGTERM, then cgroup.kill) and checks its tree is empty.
            TrySignal(hive, Signals.SIGTERM);
            await hive.WaitForExitAsync(TimeSpan.FromSeconds(30));
            await hive.DisposeAsync();
        }
        TrySignal(queen, Signals.SIGTERM);
        await queen.WaitForExitAsync(TimeSpan.FromSeconds(10));
        await queen.DisposeAsync();
        await RemoveCgroupRootAsync(cgroupRoot);
    }

    /// <summary>Kills whatever is left under the cgroup root (a worker outlives a killed hive by design) and removes the
    /// tree, so the machine is as it was; the benchmark reports a root it could not remove rather than failing.</summary>
    private static async Task RemoveCgroupRootAsync(string name)
    {
        try { await TestCgroups.RemoveAsync(name); }
        catch (TimeoutException e) { Console.Error.WriteLine($"{e.Message}; remove it with: rmdir {TestCgroups.PathOf(name)}"); }
    }

    private static void TrySignal(DaemonProcess process, int signal)
    {
        if (process.HasExited) return;
        try { Signals.Send(process.Pid, signal); }
        catch (InvalidOperationException) { } // it exited in between
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
