using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Rbee.Bench.Proxy;

// The queen's cost on the request path (issue "Benchmark: proxy overhead"): the same short completion sent straight to a
// worker, through queen-rbee, and through nginx, in one run, interleaved, so drift on a shared machine hits all three
// alike. Prints p50/p99 time to first byte, requests/s and each proxy's CPU per request; never asserts (STYLE.md §8b).
//   bench/Rbee.Bench.Proxy/run.sh [--quick]        installs nginx if needed, builds in Release, runs this
//   options: --requests N (per target, shape and concurrency)  --rounds N  --warmup N  --no-nginx  --keep-logs
//            --queen-env KEY=VALUE (repeatable: an environment variable for the queen only, to compare runtime knobs)
var inv = CultureInfo.InvariantCulture;
var quick = args.Contains("--quick");
var requests = IntArg("--requests", quick ? 300 : 3000);
var rounds = Math.Max(1, IntArg("--rounds", quick ? 3 : 10));
var warmup = IntArg("--warmup", quick ? 200 : 1000);
var queenEnv = new SortedDictionary<string, string>(StringComparer.Ordinal);
for (var i = 0; i + 1 < args.Length; i++)
    if (args[i] == "--queen-env" && args[i + 1].Split('=', 2) is [{ Length: > 0 } key, var value]) queenEnv[key] = value;
int[] concurrencies = [1, 8];
Shape[] shapes =
[
    new("non-streamed", Body(stream: false), Stream: false),
    new("streamed", Body(stream: true), Stream: true),
];

// Ctrl-C, SIGTERM and a closed terminal end the run through the same clean-up as a normal exit.
using var stop = new CancellationTokenSource();
using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);
using var onHup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Interrupt);

var scratch = Directory.CreateTempSubdirectory("rbee-bench-proxy-").FullName;
var exitCode = 0;
try
{
    exitCode = await RunAsync(stop.Token);
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    Console.Error.WriteLine("interrupted: stopping nginx, the hive and its worker, the queen; removing the cgroup root and scratch folder");
    exitCode = 130;
}
finally
{
    if (args.Contains("--keep-logs")) Console.Error.WriteLine($"logs kept in {scratch}");
    else try { Directory.Delete(scratch, recursive: true); } catch (IOException e) { Console.Error.WriteLine($"could not remove {scratch}: {e.Message}"); }
}
return exitCode;

void Interrupt(PosixSignalContext context)
{
    context.Cancel = true;
    stop.Cancel();
}

async Task<int> RunAsync(CancellationToken ct)
{
    var loadAtStart = LoadAverage();
    Console.Error.WriteLine($"starting queen-rbee, rbee-hive and an llm-worker-rbee on {BenchCluster.ModelId} under {scratch}");
    await using var cluster = await BenchCluster.StartAsync(scratch, queenEnv, ct);

    var nginxExe = args.Contains("--no-nginx") ? null : NginxProxy.Find();
    if (nginxExe is null && !args.Contains("--no-nginx"))
        Console.Error.WriteLine("nginx is not installed: the nginx baseline is skipped (bench/Rbee.Bench.Proxy/run.sh installs the Debian package)");
    await using var nginx = nginxExe is null ? null : await NginxProxy.StartAsync(nginxExe, scratch, cluster.WorkerUrl, ct);

    var direct = new Target("direct", new Uri(cluster.WorkerUrl + "/v1/completions"), []);
    var queen = new Target("queen", new Uri(cluster.QueenUrl + "/v1/completions"), [cluster.Queen.Pid]);
    List<Target> targets = [direct, queen];
    if (nginx is not null) targets.Add(new Target("nginx", new Uri(nginx.Url + "/v1/completions"), nginx.Pids));

    using var client = new LoadClient(cluster.WorkerPid);

    // Warm-up: JIT tiers and PGO in the queen, the worker and this client, connection pools on every hop, nginx's upstream
    // keep-alive. A target that fails every warm-up request is broken, not slow: say so and stop.
    foreach (var target in targets)
    {
        foreach (var shape in shapes)
        {
            foreach (var c in concurrencies.OrderDescending())
            {
                var batch = await client.RunAsync(target, shape, c, Math.Max(c, warmup / concurrencies.Length), ct);
                if (batch.Samples.All(s => !s.Ok))
                {
                    Console.Error.WriteLine($"every warm-up request to {target.Name} ({target.CompletionsUrl}, {shape.Name}) failed: {batch.Samples[0].Error}");
                    Console.Error.WriteLine(cluster.LogTails());
                    if (nginx is not null) Console.Error.WriteLine($"nginx error log:\n{nginx.ErrorLogTail()}");
                    return 1;
                }
            }
        }
    }

    // Measurement: per shape and concurrency, rounds of one batch per target, the order rotated each round.
    var results = new Dictionary<(string Shape, int Concurrency, string Target), List<Batch>>();
    var perBatch = (requests + rounds - 1) / rounds;
    var queenIdle = new IdleCpu([cluster.Queen.Pid]);
    var nginxIdle = new IdleCpu(nginx?.Pids ?? []);
    foreach (var shape in shapes)
    {
        foreach (var c in concurrencies)
        {
            for (var round = 0; round < rounds; round++)
            {
                Console.Error.Write($"\r{shape.Name}, concurrency {c}: round {round + 1}/{rounds}   ");
                for (var k = 0; k < targets.Count; k++)
                {
                    var target = targets[(round + k) % targets.Count];
                    queenIdle.Begin();
                    nginxIdle.Begin();
                    var batch = await client.RunAsync(target, shape, c, perBatch, ct);
                    queenIdle.End(counts: target != queen, batch.Wall);
                    nginxIdle.End(counts: target.Name != "nginx", batch.Wall);
                    var key = (shape.Name, c, target.Name);
                    if (!results.TryGetValue(key, out var list)) results[key] = list = [];
                    list.Add(batch);
                }
            }
        }
    }
    Console.Error.WriteLine();

    PrintReport(results, targets.Select(t => t.Name).ToList(), perBatch * rounds, loadAtStart, nginx?.Version, queenIdle, nginxIdle);
    return 0;
}

void PrintReport(Dictionary<(string Shape, int Concurrency, string Target), List<Batch>> results, List<string> targets, int perTarget,
    string loadAtStart, string? nginxVersion, IdleCpu queenIdle, IdleCpu nginxIdle)
{
    var cpuModel = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
    Console.WriteLine($"rbee proxy benchmark ({(quick ? "quick" : "full")}), {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {Environment.ProcessorCount} cores ({cpuModel}); " +
        $"load average {loadAtStart} at start, {LoadAverage()} at end; .NET {Environment.Version}; nginx {nginxVersion ?? "not run"}" +
        (queenEnv.Count == 0 ? "" : $"; queen environment {string.Join(' ', queenEnv.Select(e => $"{e.Key}={e.Value}"))}"));
    Console.WriteLine($"{perTarget} requests per target, shape and concurrency, in {rounds} interleaved rounds, after {warmup} warm-up requests per target and shape; " +
        "POST /v1/completions {\"model\":\"aidreams260K\",\"prompt\":\"Echoes\",\"max_tokens\":4,\"temperature\":0} (+ \"stream\":true); times in ms");
    Console.WriteLine();

    Console.WriteLine("| shape | conc | direct TTFB p50 / p99 | queen TTFB p50 / p99 | nginx TTFB p50 / p99 | direct req/s | queen req/s | nginx req/s " +
        "| queen added p50 | nginx added p50 | queen / nginx | queen CPU ms/req | nginx CPU ms/req |");
    Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    foreach (var shape in shapes)
    {
        foreach (var c in concurrencies)
        {
            var d = Cell(shape.Name, c, "direct");
            var q = Cell(shape.Name, c, "queen");
            var n = Cell(shape.Name, c, "nginx");
            var queenAdded = q is null || d is null ? double.NaN : q.FirstByte50 - d.FirstByte50;
            var nginxAdded = n is null || d is null ? double.NaN : n.FirstByte50 - d.FirstByte50;
            // Below 0.05 ms nginx's added p50 is within run-to-run noise, and a ratio over it says nothing: the two added
            // figures say it all then.
            var ratio = nginxAdded >= 0.05 ? F(queenAdded / nginxAdded, "0.0") : "-";
            Console.WriteLine($"| {shape.Name} | {c} | {Ttfb(d)} | {Ttfb(q)} | {Ttfb(n)} | {Rate(d)} | {Rate(q)} | {Rate(n)} " +
                $"| {F(queenAdded, "+0.000;-0.000")} | {F(nginxAdded, "+0.000;-0.000")} | {ratio} | {F(q?.ProxyCpuMs ?? double.NaN, "0.000")} | {F(n?.ProxyCpuMs ?? double.NaN, "0.000")} |");
        }
    }

    Console.WriteLine();
    Console.WriteLine("| shape | conc | direct total p50 / p99 | queen total p50 / p99 | nginx total p50 / p99 | worker CPU ms/req direct / queen / nginx | failed direct / queen / nginx |");
    Console.WriteLine("|---|---|---|---|---|---|---|");
    var errors = new List<string>();
    foreach (var shape in shapes)
    {
        foreach (var c in concurrencies)
        {
            var cells = targets.Select(t => Cell(shape.Name, c, t)).ToList();
            while (cells.Count < 3) cells.Add(null);
            Console.WriteLine($"| {shape.Name} | {c} | {Total(cells[0])} | {Total(cells[1])} | {Total(cells[2])} " +
                $"| {string.Join(" / ", cells.Select(x => F(x?.WorkerCpuMs ?? double.NaN, "0.000")))} | {string.Join(" / ", cells.Select(x => x is null ? "-" : $"{x.Failed}/{x.Count}"))} |");
            errors.AddRange(cells.Where(x => x?.FirstError is not null).Select(x => $"{shape.Name}, concurrency {c}, {x!.Target}: {x.FirstError}"));
        }
    }
    Console.WriteLine();
    Console.WriteLine($"CPU ticks of {1000.0 / ProcCpu.TicksPerSecond:0.#} ms; the proxies' CPU outside their own batches (telemetry, timers): " +
        $"queen {queenIdle.MsPerSecond:0.0} ms/s, nginx {(nginxVersion is null ? "-" : nginxIdle.MsPerSecond.ToString("0.0", inv))} ms/s (included in the CPU ms/req above, pro rata).");
    foreach (var e in errors) Console.WriteLine($"first failure: {e}");

    CellStats? Cell(string shape, int c, string target) =>
        results.TryGetValue((shape, c, target), out var batches) ? CellStats.Of(target, batches) : null;
}

string Ttfb(CellStats? s) => s is null ? "-" : $"{F(s.FirstByte50, "0.00")} / {F(s.FirstByte99, "0.00")}";
string Total(CellStats? s) => s is null ? "-" : $"{F(s.Total50, "0.00")} / {F(s.Total99, "0.00")}";
string Rate(CellStats? s) => s is null ? "-" : F(s.RequestsPerSecond, "0");
string F(double v, string format) => double.IsNaN(v) ? "-" : v.ToString(format, inv);

static byte[] Body(bool stream) => Encoding.UTF8.GetBytes(
    $"{{\"model\":\"{BenchCluster.ModelId}\",\"prompt\":\"Echoes\",\"max_tokens\":4,\"temperature\":0{(stream ? ",\"stream\":true" : "")}}}");

static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

int IntArg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.Integer, inv, out var v) && v > 0 ? v : fallback;
}
