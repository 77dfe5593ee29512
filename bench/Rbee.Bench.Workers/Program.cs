using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Rbee.Testing;

// rbee workers benchmark (issue 4): spawn-to-ready-at-queen, exit-to-queen, and the hive's CPU cost of watching idle
// workers. Real queen-rbee, rbee-hive and rbee-test-worker processes on loopback; a cgroup root of its own.
// Usage: dotnet run -c Release --project bench/Rbee.Bench.Workers [-- --quick]
var quick = args.Contains("--quick");
var spawnRuns = quick ? 3 : 5;
var exitRuns = quick ? 5 : 15;
var idleWorkers = quick ? 10 : 50;
var idleWindow = TimeSpan.FromSeconds(quick ? 5 : 15);

var home = Directory.CreateTempSubdirectory("rbee-bench-workers-").FullName;
var root = $"rbee-bench-{Guid.NewGuid():N}.slice";
var queenPort = FreePort.Next();
var hivePort = FreePort.Next();
var basePort = 60100 + Random.Shared.Next(0, 20) * 200;
var hiveId = "bench-hive";
var model = TestWorkerCatalog.Model;
using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };

var env = new Dictionary<string, string?> { ["HOME"] = home, ["RBEE_Queen__SettleDelay"] = "00:00:00" };
// The tests' worker catalog (type "test": the real rbee-test-worker), on ports of the benchmark's own.
var hiveEnv = new Dictionary<string, string?>(env);
foreach (var (key, value) in TestWorkerCatalog.Environment([new TestWorkerType("test", basePort, [], TimeSpan.FromMinutes(5), PortCount: 150)]))
    hiveEnv[key] = value;

await using var queen = DaemonProcess.Start("queen-rbee", ["--port", $"{queenPort}", "--bind", "127.0.0.1"], env, Path.Combine(home, "logs"));
await using var hive = DaemonProcess.Start("rbee-hive",
    ["--port", $"{hivePort}", "--bind", "127.0.0.1", "--hive-id", hiveId, "--queen-url", $"http://127.0.0.1:{queenPort}",
     "--cgroup-root", root, "--run-dir", Path.Combine(home, "run"), "--state-dir", Path.Combine(home, "state")], hiveEnv, Path.Combine(home, "logs"));

// The queen's aggregate stream, read from the start: every wait below is armed before its trigger.
var events = Channel.CreateUnbounded<(string Name, JsonElement Data, long At)>();
using var stop = new CancellationTokenSource();
await WaitHealthy($"http://127.0.0.1:{queenPort}");
var streamResponse = await http.GetAsync($"http://127.0.0.1:{queenPort}/v1/heartbeats/stream", HttpCompletionOption.ResponseHeadersRead);
var pump = Task.Run(async () =>
{
    try
    {
        await foreach (var e in SseReader.ReadAsync(await streamResponse.Content.ReadAsStreamAsync(), stop.Token))
        {
            var at = Stopwatch.GetTimestamp();
            try { events.Writer.TryWrite((e.Event, JsonDocument.Parse(e.Data).RootElement.Clone(), at)); }
            catch (JsonException) { }
        }
    }
    catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException) { }
});

try
{
    await WaitFor((n, d) => n == "hive_state" && d.GetProperty("hive_id").GetString() == hiveId && d.GetProperty("new_state").GetString() == "online", TimeSpan.FromSeconds(60), "hive online");

    // 1. spawn → ready in the queen's view
    var spawn = new List<double>();
    var pids = new List<(int Port, int Pid)>();
    for (var i = 0; i < spawnRuns + exitRuns; i++)
    {
        var t0 = Stopwatch.GetTimestamp();
        var (port, pid) = await Spawn();
        var at = await WaitFor((n, d) => n is "worker_added" or "worker_state" && IsWorker(d, port) && d.GetProperty("worker").GetProperty("state").GetString() == "ready",
            TimeSpan.FromSeconds(60), $"worker {port} ready at the queen");
        if (i < spawnRuns) spawn.Add(Stopwatch.GetElapsedTime(t0, at).TotalMilliseconds);
        pids.Add((port, pid));
    }

    // 2. SIGKILL → worker_removed at the queen
    var exit = new List<double>();
    foreach (var (port, pid) in pids.Take(exitRuns))
    {
        var t0 = Stopwatch.GetTimestamp();
        Signals.Send(pid, Signals.SIGKILL);
        var at = await WaitFor((n, d) => n == "worker_removed" && IsWorker(d, port), TimeSpan.FromSeconds(30), $"worker {port} removed at the queen");
        exit.Add(Stopwatch.GetElapsedTime(t0, at).TotalMilliseconds);
    }

    // 3. hive CPU while watching idle workers (monitoring + its 1 s telemetry frames to the queen)
    var running = pids.Count - exitRuns;
    for (var i = running; i < idleWorkers; i++) await Spawn();
    await Task.Delay(TimeSpan.FromSeconds(2)); // let the spawn bursts settle: the figure is about steady watching
    var cpu0 = CpuTicks(hive.Pid);
    var w0 = Stopwatch.GetTimestamp();
    await Task.Delay(idleWindow);
    var cpuPct = (CpuTicks(hive.Pid) - cpu0) / 100.0 / Stopwatch.GetElapsedTime(w0).TotalSeconds * 100.0;

    Console.WriteLine($"rbee workers benchmark ({(quick ? "quick" : "full")}; {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]})");
    Console.WriteLine("| figure | runs | median | min | max | target |");
    Console.WriteLine("|---|---|---|---|---|---|");
    Row("spawn -> ready at queen (ms)", spawn, "-");
    Row("SIGKILL -> worker_removed at queen (ms)", exit, "< 100 median");
    Console.WriteLine($"| hive CPU, {idleWorkers} idle workers (% of one core) | {idleWindow.TotalSeconds:0} s window | {cpuPct:0.00} | | | < 1 |");
}
finally
{
    // Stop the hive gracefully: it stops every worker and verifies its tree is empty.
    Signals.Send(hive.Pid, Signals.SIGTERM);
    await hive.WaitForExitAsync(TimeSpan.FromSeconds(30));
    await stop.CancelAsync();
    streamResponse.Dispose();
    await pump;
}
return 0;

void Row(string name, List<double> v, string target)
{
    var s = v.Order().ToList();
    var median = s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    Console.WriteLine($"| {name} | {s.Count} | {median:0.0} | {s[0]:0.0} | {s[^1]:0.0} | {target} |");
}

bool IsWorker(JsonElement d, int port) =>
    d.GetProperty("hive_id").GetString() == hiveId && d.GetProperty("worker").GetProperty("port").GetInt32() == port;

async Task<long> WaitFor(Func<string, JsonElement, bool> match, TimeSpan budget, string what)
{
    using var cts = new CancellationTokenSource(budget);
    try
    {
        while (await events.Reader.WaitToReadAsync(cts.Token))
            while (events.Reader.TryRead(out var e))
                if (match(e.Name, e.Data)) return e.At;
    }
    catch (OperationCanceledException) { }
    throw new TimeoutException($"no {what} within {budget}; hive log:\n{hive.LogTail()}");
}

async Task<(int Port, int Pid)> Spawn()
{
    var body = $"{{\"operation\":\"worker_spawn\",\"model\":\"{model}\",\"worker_type\":\"test\"}}";
    using var post = await http.PostAsync($"http://127.0.0.1:{hivePort}/v1/jobs", new StringContent(body, Encoding.UTF8, "application/json"));
    var sse = JsonDocument.Parse(await post.Content.ReadAsStringAsync()).RootElement.GetProperty("sse_url").GetString();
    using var resp = await http.GetAsync($"http://127.0.0.1:{hivePort}{sse}", HttpCompletionOption.ResponseHeadersRead);
    (int, int)? ready = null;
    await foreach (var e in SseReader.ReadAsync(await resp.Content.ReadAsStreamAsync()))
    {
        if (e.Event == "data")
        {
            var d = JsonDocument.Parse(e.Data).RootElement;
            if (d.GetProperty("event").GetString() == "ready") ready = (d.GetProperty("port").GetInt32(), d.GetProperty("pid").GetInt32());
        }
        else if (e.Data == "[DONE]") return ready ?? throw new InvalidOperationException("no ready event");
        else if (e.Data.StartsWith("[ERROR]", StringComparison.Ordinal)) throw new InvalidOperationException(e.Data);
    }
    throw new InvalidOperationException("spawn stream ended early");
}

async Task WaitHealthy(string url)
{
    var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
    while (DateTime.UtcNow < until)
    {
        try { using var r = await http.GetAsync(url + "/health"); if (r.IsSuccessStatusCode) return; }
        catch (HttpRequestException) { }
        await Task.Delay(100);
    }
    throw new TimeoutException($"{url} not healthy");
}

static long CpuTicks(int pid)
{
    var stat = File.ReadAllText($"/proc/{pid}/stat");
    var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    return long.Parse(rest[11], CultureInfo.InvariantCulture) + long.Parse(rest[12], CultureInfo.InvariantCulture);
}
