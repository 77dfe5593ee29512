using System.Diagnostics;
using System.Globalization;
using Rbee.Bench.Engine;
using Rbee.Worker.Gguf;
using Rbee.Worker.Kernels;
using Rbee.Worker.Model;

// rbee engine benchmark: memory bandwidth, then prefill (pp) and decode (tg) tokens/s of generated llama models
// at each thread count, decode as a share of the bandwidth roofline, and the speed-up of the integer kernels over
// the portable decode-to-float path measured in the same run. Prints; never asserts.
//   dotnet run -c Release --project bench/Rbee.Bench.Engine [-- --quick] [--threads 1,2] [--types F16,Q4_0]
//                                                            [--pp 512] [--tg 128] [--no-baseline] [--no-kernels] [--kernels-only] [--no-panels]
//                                                            [--batch 1,4] (sequences decoded together; --batch 1 skips batching)
//                                                            [--vs-llamacpp] (only ours vs llama.cpp) [--no-llamacpp] [--rounds 2] [--depth 896]
//                                                            [--serving] (only the worker over HTTP: --types Q4_0 --threads 2 --streams 1,4,8 --tokens 64)
// Ours vs llama.cpp (EngineComparison): the same files, same run, alternating, at the largest --threads value
// (2 with --vs-llamacpp unless given); llama.cpp through node-llama-cpp@3.21.1 (LlamaCppBaseline).

var quick = args.Contains("--quick");
string? Arg(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
var versusOnly = args.Contains("--vs-llamacpp");
var threads = (Arg("--threads") ?? (versusOnly ? "2" : "1,2")).Split(',').Select(int.Parse).ToArray();
var types = (Arg("--types") ?? string.Join(',', BenchModel.FileTypes)).Split(',');
var pp = int.Parse(Arg("--pp") ?? (quick ? "32" : "512"), CultureInfo.InvariantCulture);
var tg = int.Parse(Arg("--tg") ?? (quick ? "8" : "128"), CultureInfo.InvariantCulture);
var baseline = !args.Contains("--no-baseline");
// --no-panels: prefill through the four-token kernels instead of PanelGemm (before/after in one build).
MatMul.PrefillPanels = !args.Contains("--no-panels");
var batches = (Arg("--batch") ?? "1,4").Split(',').Select(int.Parse).ToArray();
var shape = quick ? BenchShape.Quick : BenchShape.Full;
void Log(string s) => Console.WriteLine(s);

Log($"rbee engine benchmark ({(quick ? "quick" : "full")}): {shape.Name}, pp{pp}, tg{tg}, threads {string.Join('/', threads)}");
Log($"CPU: {Environment.ProcessorCount} logical processors; note other processes on this machine share them.");
Log("");
var versus = new EngineComparison.Settings(shape, types, threads.Max(), pp, tg,
    int.Parse(Arg("--depth") ?? (shape.Context - tg).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
    int.Parse(Arg("--rounds") ?? (quick ? "1" : "2"), CultureInfo.InvariantCulture));
if (args.Contains("--serving"))
{
    ServingBench.Run(new ServingBench.Settings(shape, (Arg("--types") ?? "Q4_0").Split(','), int.Parse(Arg("--threads") ?? "2", CultureInfo.InvariantCulture),
        (Arg("--streams") ?? "1,4,8").Split(',').Select(int.Parse).ToArray(), int.Parse(Arg("--tokens") ?? "64", CultureInfo.InvariantCulture),
        int.Parse(Arg("--rounds") ?? "2", CultureInfo.InvariantCulture)), Log);
    return;
}
if (versusOnly)
{
    EngineComparison.Run(versus, Log);
    return;
}

// 1. Bandwidth at each thread count, same run.
var bandwidth = new Dictionary<int, double>();
foreach (var t in threads)
{
    ComputePool.Configure(t);
    bandwidth[t] = Bandwidth.MeasureGBps(ComputePool.Shared, quick ? 256L << 20 : 1L << 30, passes: quick ? 3 : 6);
    Log($"memory read bandwidth, {t} thread(s): {bandwidth[t]:F1} GB/s");
}
Log("");

// 2. Kernels alone (MatVec streaming weights from memory), then the models end to end.
if (!args.Contains("--no-kernels"))
{
    foreach (var t in threads) KernelBench.Run(t, Log);
    Log("");
}
if (args.Contains("--kernels-only")) return;

var rows = new List<string>();
// Wall-clock rates suffer from whatever else runs on the machine; the process's CPU time per token shows what the
// kernels cost when they do run (with 2 threads it includes the second thread's spinning, so it is an upper bound).
rows.Add("| type | params | weights/token | threads | pp tok/s | tg tok/s | roofline tok/s | tg % roofline | pp CPU ms/tok | tg CPU ms/tok | tg vs portable |");
rows.Add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
var batchRows = new List<string> { "| type | threads | batched decode (BatchDecoder, one token per sequence per pass) |", "|---|---:|---|" };
var proc = Process.GetCurrentProcess();
double CpuMs() { proc.Refresh(); return proc.TotalProcessorTime.TotalMilliseconds; }
var rng = new Random(42);
foreach (var type in types)
{
    var path = BenchModel.EnsureFile(shape, type, Log);
    using var model = LlamaModel.Load(path, new ModelLoadOptions { BatchSize = quick ? 32 : new ModelLoadOptions().BatchSize });
    var bytesPerToken = BenchModel.DecodeWeightBytes(model.File);
    var parameters = BenchModel.Parameters(model.File);
    var vocab = model.Config.VocabSize;
    var prompt = Enumerable.Range(0, pp).Select(_ => rng.Next(3, vocab)).ToArray();
    foreach (var t in threads)
    {
        ComputePool.Configure(t);
        MatMul.IntegerKernels = true;
        var session = model.CreateSession(Math.Min(model.Config.ContextLength, pp + tg + 8));
        session.Evaluate(prompt.AsSpan(0, Math.Min(16, pp))); // warm-up: JIT, page-in of the mapping
        for (var i = 0; i < 4; i++) session.Evaluate(prompt[i]);
        session.Reset();

        var cpu0 = CpuMs();
        var sw = Stopwatch.StartNew();
        var logits = session.Evaluate(prompt);
        var ppRate = pp / sw.Elapsed.TotalSeconds;
        var ppCpu = (CpuMs() - cpu0) / pp;
        var next = ArgMax(logits);
        // Decode from an empty cache, as llama-bench's tg128 does, so the figures compare with llama.cpp's
        // (after pp512 the attention over 512+ cached positions would be measured too).
        session.Reset();
        cpu0 = CpuMs();
        sw.Restart();
        for (var i = 0; i < tg; i++) next = ArgMax(session.Evaluate(next));
        var tgRate = tg / sw.Elapsed.TotalSeconds;
        var tgCpu = (CpuMs() - cpu0) / tg;

        var roof = bandwidth[t] * 1e9 / bytesPerToken;
        var vsPortable = "n/a";
        if (baseline && type != "F16")
        {
            // The portable path (decode each row to float, then dot): what the kernels replace.
            MatMul.IntegerKernels = false;
            session.Reset();
            session.Evaluate(prompt.AsSpan(0, 4));
            var n = Math.Max(2, tg / 8);
            sw.Restart();
            var tok = next;
            for (var i = 0; i < n; i++) tok = ArgMax(session.Evaluate(tok));
            var portable = n / sw.Elapsed.TotalSeconds;
            MatMul.IntegerKernels = true;
            vsPortable = $"{tgRate / portable:F2}x ({portable:F1} tok/s)";
        }
        var line = $"| {type} | {parameters / 1e6:F0}M | {bytesPerToken / 1e6:F0} MB | {t} | {ppRate:F1} | {tgRate:F1} | {roof:F1} | {100 * tgRate / roof:F0} % | {ppCpu:F2} | {tgCpu:F2} | {vsPortable} |";
        rows.Add(line);
        Log(line);
        if (batches.Any(b => b > 1))
        {
            var batched = string.Join("; ", batches.Select(b => BatchBench.Run(model, b, tg, rng)));
            batchRows.Add($"| {type} | {t} | {batched} |");
            Log($"  batched decode: {batched}");
        }
    }
}
Log("");
foreach (var r in rows) Log(r);
Log("");
if (batchRows.Count > 2)
{
    foreach (var r in batchRows) Log(r);
    Log("");
}
if (!args.Contains("--no-llamacpp")) EngineComparison.Run(versus, Log);

static int ArgMax(ReadOnlySpan<float> v)
{
    var best = 0;
    for (var i = 1; i < v.Length; i++)
        if (v[i] > v[best]) best = i;
    return best;
}
