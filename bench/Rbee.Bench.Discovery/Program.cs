using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Rbee.Bench.Discovery;

// Discovery and telemetry benchmark (issue 3 "Benchmark"): prints, never asserts.
//   dotnet run -c Release --project bench/Rbee.Bench.Discovery [-- --quick] [--runs N] [--hives N] [--workers N] [--window S]
var inv = CultureInfo.InvariantCulture;
var quick = args.Contains("--quick");
var runs = IntArg("--runs", quick ? 5 : 20);
var hiveCount = IntArg("--hives", quick ? 100 : 100);
var workersPerHive = IntArg("--workers", 10);
var window = TimeSpan.FromSeconds(IntArg("--window", quick ? 5 : 30));
var configuration = StringArg("--configuration", "Release");
var scratch = Directory.CreateTempSubdirectory("rbee-bench-").FullName;
using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 256 }) { Timeout = TimeSpan.FromSeconds(30) };
// Control needs the cluster token (issue 12): one per run, for the queen, the hives and this client.
var token = "bench-" + Guid.NewGuid().ToString("N");
http.DefaultRequestHeaders.Authorization = new("Bearer", token);

Console.WriteLine($"rbee discovery benchmark: {(quick ? "quick" : "full")}, {configuration} build, {Environment.ProcessorCount} cores, {DateTime.UtcNow:u}");
try
{
    var releaseHive = Programs.Release("rbee-hive");
    var releaseCli = Programs.Release("rbee");
    var (firstFrame, firstFrameRelease, offline) = await LatencyRunsAsync(releaseHive);
    var (cli, cliRelease) = await CliStartRunsAsync(releaseCli);
    Console.WriteLine();
    Console.WriteLine($"| measure (runs = {runs}) | median | p90 | min | max |");
    Console.WriteLine("|---|---|---|---|---|");
    Row("hive process start -> first frame at queen", firstFrame);
    if (releaseHive is not null) Row("the same, Native AOT release rbee-hive (runs alternate)", firstFrameRelease);
    Row("SIGKILL of hive -> offline on queen stream", offline);
    Row("rbee --version, process start -> exit", cli);
    if (releaseCli is not null) Row("the same, Native AOT release rbee (runs alternate)", cliRelease);
    if (releaseHive is null || releaseCli is null)
        Console.WriteLine($"(no Native AOT release of {(releaseHive is null ? "rbee-hive" : "rbee")} in artifacts/release/: scripts/publish.sh builds it, then this compares start-up)");
    if (args.Contains("--startup-only")) return 0;

    var scale = await ScaleRunAsync();
    Console.WriteLine();
    Console.WriteLine($"| scale: {hiveCount} simulated hives x {workersPerHive} workers, 1 frame/s each, {window.TotalSeconds:0} s windows | value |");
    Console.WriteLine("|---|---|");
    foreach (var (name, value) in scale) Console.WriteLine($"| {name} | {value} |");
}
finally
{
    // The hives were SIGKILLed, so none removed the (empty) cgroup root it created; leave the machine as it was.
    var mount = File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' '))
        .Where(f => Array.IndexOf(f, "-") is var d && d > 4 && d + 1 < f.Length && f[d + 1] == "cgroup2").Select(f => f[4]).FirstOrDefault();
    if (mount is not null) try { Directory.Delete(Path.Combine(mount, "rbee-bench.slice")); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    if (!args.Contains("--keep-logs")) try { Directory.Delete(scratch, true); } catch (IOException) { }
    else Console.Error.WriteLine($"logs kept in {scratch}");
}
return 0;

async Task<(List<double> Build, List<double> Release)> CliStartRunsAsync(string? release)
{
    var build = new List<double>();
    var aot = new List<double>();
    for (var i = 0; i < runs * (release is null ? 1 : 2); i++)
    {
        var useRelease = release is not null && i % 2 == 1;
        var clock = Stopwatch.StartNew();
        using var p = Programs.Start(useRelease ? release! : Programs.Executable("rbee", configuration), ["--version"],
            new Dictionary<string, string> { ["HOME"] = scratch }, Path.Combine(scratch, "cli.log"));
        await p.WaitForExitAsync();
        (useRelease ? aot : build).Add(clock.Elapsed.TotalMilliseconds);
    }
    return (build, aot);
}

async Task<(List<double> FirstFrame, List<double> FirstFrameRelease, List<double> Offline)> LatencyRunsAsync(string? release)
{
    var queenPort = Programs.FreePort();
    var queenUrl = $"http://127.0.0.1:{queenPort}";
    using var queen = StartQueen(queenPort);
    try
    {
        await WaitHealthyAsync(queenUrl);
        var events = await OpenStreamAsync($"{queenUrl}/v1/heartbeats/stream");
        var firstFrame = new List<double>();
        var firstFrameRelease = new List<double>();
        var offline = new List<double>();
        for (var i = 0; i < runs * (release is null ? 1 : 2); i++)
        {
            var useRelease = release is not null && i % 2 == 1;
            var hiveId = $"bench-{i:D2}";
            var hivePort = Programs.FreePort();
            var clock = Stopwatch.StartNew();
            using var hive = Programs.Start(useRelease ? release! : Programs.Executable("rbee-hive", configuration),
                ["--port", hivePort.ToString(inv), "--bind", "127.0.0.1", "--hive-id", hiveId, "--queen-url", queenUrl,
                 "--cgroup-root", "rbee-bench.slice", "--run-dir", Path.Combine(scratch, "run")],
                new Dictionary<string, string> { ["HOME"] = scratch, ["RBEE_CLUSTER_TOKEN"] = token }, Path.Combine(scratch, $"{hiveId}.log"));
            await WaitEventAsync(events, (name, d) => name == "telemetry" && d.GetProperty("hive_id").GetString() == hiveId, TimeSpan.FromSeconds(60));
            (useRelease ? firstFrameRelease : firstFrame).Add(clock.Elapsed.TotalMilliseconds);

            clock.Restart();
            Programs.Signal(hive.Id, Programs.SIGKILL);
            await WaitEventAsync(events, (name, d) => name == "hive_state" && d.GetProperty("hive_id").GetString() == hiveId
                && d.GetProperty("new_state").GetString() == "offline", TimeSpan.FromSeconds(60));
            offline.Add(clock.Elapsed.TotalMilliseconds);
            await hive.WaitForExitAsync();
            Console.Error.WriteLine($"run {i + 1}: {(useRelease ? "Native AOT" : "build")} first frame {(useRelease ? firstFrameRelease : firstFrame)[^1]:0} ms, offline {offline[^1]:0.0} ms");
        }
        return (firstFrame, firstFrameRelease, offline);
    }
    finally
    {
        Programs.Signal(queen.Id, Programs.SIGKILL);
        await queen.WaitForExitAsync();
    }
}

async Task<List<(string, string)>> ScaleRunAsync()
{
    var results = new List<(string, string)>();
    // The simulated hives bind first, so the queen's port cannot collide with one of theirs.
    await using var hives = await SimulatedHives.StartAsync(hiveCount, workersPerHive, TimeSpan.FromSeconds(1));
    var queenPort = Programs.FreePort();
    var queenUrl = $"http://127.0.0.1:{queenPort}";
    using var queen = StartQueen(queenPort);
    try
    {
        await WaitHealthyAsync(queenUrl);
        var joined = Stopwatch.StartNew();
        await hives.SendReadiesAsync(http, queenUrl);
        while (await OnlineCountAsync(queenUrl) < hiveCount)
        {
            if (joined.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException("simulated hives not all online within 60 s");
            await Task.Delay(100);
        }
        results.Add(($"all {hiveCount} hives online after their readies", $"{joined.Elapsed.TotalMilliseconds:0} ms"));
        await Task.Delay(TimeSpan.FromSeconds(2)); // let start-up JIT settle before measuring

        var (cpuIdle, frames) = await CpuOverAsync(queen.Id, window, hives);
        results.Add(("queen CPU, telemetry only (% of one core)", $"{cpuIdle:0.00} %"));
        results.Add(("frames received by the queen per second", $"{frames:0}"));

        var streamEvents = await OpenStreamAsync($"{queenUrl}/v1/heartbeats/stream");
        var drain = Task.Run(async () => { while (await streamEvents.Reader.WaitToReadAsync()) while (streamEvents.Reader.TryRead(out _)) { } });
        var (cpuStream, _) = await CpuOverAsync(queen.Id, window, hives);
        results.Add(("queen CPU, plus one aggregate-stream reader (% of one core)", $"{cpuStream:0.00} %"));

        var latencies = new List<double>();
        var until = DateTime.UtcNow + window;
        var cpu0 = ProcStat.CpuSeconds(queen.Id);
        var wall = Stopwatch.StartNew();
        long bytes = 0;
        while (DateTime.UtcNow < until)
        {
            var t = Stopwatch.StartNew();
            var body = await http.GetByteArrayAsync($"{queenUrl}/v1/cluster");
            latencies.Add(t.Elapsed.TotalMilliseconds);
            bytes = body.Length;
            await Task.Delay(100);
        }
        var cpuCluster = (ProcStat.CpuSeconds(queen.Id) - cpu0) / wall.Elapsed.TotalSeconds * 100;
        latencies.Sort();
        results.Add(($"GET /v1/cluster latency, p50 / p99 ({latencies.Count} requests, 10/s)",
            $"{Percentile(latencies, 50):0.00} ms / {Percentile(latencies, 99):0.00} ms"));
        results.Add(("GET /v1/cluster body size", $"{bytes / 1024.0:0} KiB"));
        results.Add(("queen CPU while serving /v1/cluster 10/s (% of one core)", $"{cpuCluster:0.00} %"));
        results.Add(("queen RSS", $"{ProcStat.RssBytes(queen.Id) / (1024.0 * 1024):0} MiB"));
    }
    finally
    {
        Programs.Signal(queen.Id, Programs.SIGKILL);
        await queen.WaitForExitAsync();
    }
    return results;
}

async Task<(double CpuPct, double FramesPerSecond)> CpuOverAsync(int pid, TimeSpan span, SimulatedHives hives)
{
    var cpu0 = ProcStat.CpuSeconds(pid);
    var frames0 = hives.FramesSent;
    var wall = Stopwatch.StartNew();
    await Task.Delay(span);
    return ((ProcStat.CpuSeconds(pid) - cpu0) / wall.Elapsed.TotalSeconds * 100, (hives.FramesSent - frames0) / wall.Elapsed.TotalSeconds);
}

Process StartQueen(int port) => Programs.Start(Programs.Executable("queen-rbee", configuration),
    ["--port", port.ToString(inv), "--bind", "127.0.0.1"],
    new Dictionary<string, string> { ["HOME"] = scratch, ["RBEE_CLUSTER_TOKEN"] = token, ["RBEE_Queen__SettleDelay"] = "00:00:00" },
    Path.Combine(scratch, $"queen-{port}.log"));

async Task WaitHealthyAsync(string url)
{
    var until = DateTime.UtcNow.AddSeconds(30);
    while (DateTime.UtcNow < until)
    {
        try
        {
            using var r = await http.GetAsync(url + "/health");
            if (r.IsSuccessStatusCode) return;
        }
        catch (HttpRequestException)
        {
        }
        await Task.Delay(50);
    }
    var logs = Directory.EnumerateFiles(scratch, "queen-*.log").Select(f => f + ":\n" + string.Join('\n', File.ReadLines(f).TakeLast(10)));
    throw new TimeoutException($"{url} not healthy\n{string.Join('\n', logs)}");
}

async Task<int> OnlineCountAsync(string queenUrl)
{
    using var doc = JsonDocument.Parse(await http.GetStringAsync($"{queenUrl}/v1/cluster"));
    return doc.RootElement.GetProperty("hives").EnumerateArray().Count(h => h.GetProperty("state").GetString() == "online");
}

async Task<Channel<(string Name, JsonElement Data)>> OpenStreamAsync(string url)
{
    var channel = Channel.CreateUnbounded<(string, JsonElement)>();
    var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, url), HttpCompletionOption.ResponseHeadersRead);
    response.EnsureSuccessStatusCode();
    var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
    _ = Task.Run(async () =>
    {
        string? name = null;
        try
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
                else if (line.StartsWith("data: ", StringComparison.Ordinal) && name is not null)
                    channel.Writer.TryWrite((name, JsonDocument.Parse(line[6..]).RootElement.Clone()));
            }
        }
        catch (IOException)
        {
        }
        channel.Writer.TryComplete();
    });
    return channel;
}

static async Task WaitEventAsync(Channel<(string Name, JsonElement Data)> events, Func<string, JsonElement, bool> match, TimeSpan budget)
{
    using var cts = new CancellationTokenSource(budget);
    while (await events.Reader.WaitToReadAsync(cts.Token))
        while (events.Reader.TryRead(out var e))
            if (match(e.Name, e.Data)) return;
    throw new InvalidOperationException("the queen's stream ended");
}

void Row(string name, List<double> values)
{
    var sorted = values.Order().ToList();
    Console.WriteLine($"| {name} | {Percentile(sorted, 50):0.0} ms | {Percentile(sorted, 90):0.0} ms | {sorted[0]:0.0} ms | {sorted[^1]:0.0} ms |");
}

static double Percentile(List<double> sorted, double p)
{
    if (sorted.Count == 0) return double.NaN;
    var rank = p / 100 * (sorted.Count - 1);
    var lo = (int)Math.Floor(rank);
    var hi = (int)Math.Ceiling(rank);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

int IntArg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.Integer, inv, out var v) ? v : fallback;
}

string StringArg(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
