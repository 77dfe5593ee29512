using System.Diagnostics;
using System.Globalization;
using Rbee.Worker.Kernels;
using Rbee.Worker.Model;

namespace Rbee.Bench.Engine;

/// <summary>
/// Ours against llama.cpp on the same GGUF files, in the same run, alternating (issue 13): for each file and round,
/// one engine then the other (the order swaps every round, so neither always runs on a machine the other just
/// warmed or a neighbour just loaded), each measuring pp (prompt evaluation from an empty cache), tg (single-token
/// steps from an empty cache) and tg after <c>depth</c> cached tokens, plus its process's peak RSS. Each figure is the
/// best of the rounds: on a shared machine interference only ever slows a run down, so the best round is the one
/// closest to what the engine does alone (and the lowest peak RSS, for the same reason). Prints; never asserts.
/// </summary>
internal static class EngineComparison
{
    public sealed record Settings(BenchShape Shape, string[] Types, int Threads, int Pp, int Tg, int Depth, int Rounds);

    public static void Run(Settings s, Action<string> log)
    {
        var context = s.Shape.Context;
        log($"ours vs llama.cpp: {s.Shape.Name}, {s.Threads} threads, pp{s.Pp}, tg{s.Tg}, tg{s.Tg} after {s.Depth} cached tokens " +
            $"(context {context}), best of {s.Rounds} alternating rounds");
        var llama = LlamaCppBaseline.TryCreate(log, out var whyNot);
        if (llama is null) log($"llama.cpp baseline unavailable: {whyNot}");

        var rows = new List<string>
        {
            $"| type | pp{s.Pp} ours | pp{s.Pp} llama.cpp | pp ratio | tg{s.Tg} ours | tg{s.Tg} llama.cpp | tg ratio | " +
            $"tg{s.Tg} @ {s.Depth} ours | tg{s.Tg} @ {s.Depth} llama.cpp | ratio | peak RSS ours | peak RSS llama.cpp |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        };
        // Files first: generating one fills the managed heap, which would count in the peak RSS of the next measurement.
        var paths = s.Types.ToDictionary(t => t, t => BenchModel.EnsureFile(s.Shape, t, log));
        foreach (var type in s.Types)
        {
            var path = paths[type];
            var ours = new List<EngineFigures>();
            var theirs = new List<EngineFigures>();
            for (var round = 0; round < s.Rounds; round++)
            {
                void Ours()
                {
                    var f = MeasureOurs(path, s.Threads, s.Pp, s.Tg, s.Depth, context);
                    ours.Add(f);
                    log($"  {type} round {round + 1} ours:      {Describe(f)}  (load {LoadAverage()})");
                }
                void Theirs()
                {
                    if (llama is null) return;
                    try
                    {
                        var f = llama.Measure(path, s.Threads, s.Pp, s.Tg, s.Depth, context);
                        theirs.Add(f);
                        log($"  {type} round {round + 1} llama.cpp: {Describe(f)}  (load {LoadAverage()})");
                    }
                    catch (InvalidOperationException ex)
                    {
                        log($"  {type} round {round + 1} llama.cpp: {ex.Message}");
                    }
                }
                if (round % 2 == 0) { Ours(); Theirs(); }
                else { Theirs(); Ours(); }
            }
            var o = Best(ours)!;
            var t = Best(theirs);
            var row = $"| {type} | {o.Pp:F1} | {Fig(t?.Pp)} | {Ratio(o.Pp, t?.Pp)} | {o.Tg:F1} | {Fig(t?.Tg)} | {Ratio(o.Tg, t?.Tg)} | " +
                      $"{o.TgDepth:F1} | {Fig(t?.TgDepth)} | {Ratio(o.TgDepth, t?.TgDepth)} | {Mb(o.PeakRssBytes)} | {(t is null ? "—" : Mb(t.PeakRssBytes))} |";
            rows.Add(row);
            log(row);
        }
        log("");
        foreach (var r in rows) log(r);
        log("ratio = ours ÷ llama.cpp (above 1: ours is faster). Peak RSS is each process's VmHWM while it ran that file:");
        log("ours a .NET process with the file memory-mapped, llama.cpp a node process (its runtime included) with the same.");
        log(llama is null ? $"llama.cpp baseline unavailable: {whyNot}" : $"llama.cpp: {llama.Description}");
    }

    /// <summary>Ours measured as <c>llamacpp-bench.mjs</c> measures llama.cpp: random tokens, nothing sampled.</summary>
    private static EngineFigures MeasureOurs(string path, int threads, int pp, int tg, int depth, int context)
    {
        ComputePool.Configure(threads);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        ResetPeakRss();
        using var model = LlamaModel.Load(path, new ModelLoadOptions());
        var rng = new Random(42);
        var vocab = model.Config.VocabSize;
        int[] Tokens(int n) => Enumerable.Range(0, n).Select(_ => rng.Next(3, vocab)).ToArray();
        var session = model.CreateSession(context);
        session.Evaluate(Tokens(16)); // warm-up: JIT, page-in of the mapping
        for (var i = 0; i < 4; i++) session.Evaluate(rng.Next(3, vocab));
        session.Reset();

        var prompt = Tokens(pp);
        var sw = Stopwatch.StartNew();
        session.Evaluate(prompt);
        var ppRate = pp / sw.Elapsed.TotalSeconds;
        session.Reset();

        double Decode()
        {
            var steps = Tokens(tg);
            var clock = Stopwatch.StartNew();
            foreach (var t in steps) session.Evaluate(t);
            return tg / clock.Elapsed.TotalSeconds;
        }
        var tgRate = Decode();
        session.Reset();
        var tgDepth = double.NaN;
        if (depth > 0)
        {
            session.Evaluate(Tokens(depth));
            tgDepth = Decode();
        }
        return new EngineFigures(ppRate, tgRate, tgDepth, PeakRss());
    }

    private static EngineFigures? Best(List<EngineFigures> runs) => runs.Count == 0
        ? null
        : new EngineFigures(runs.Max(r => r.Pp), runs.Max(r => r.Tg), runs.Max(r => r.TgDepth), runs.Min(r => r.PeakRssBytes));

    private static string Describe(EngineFigures f) =>
        $"pp {f.Pp,7:F1}  tg {f.Tg,7:F1}  tg@depth {f.TgDepth,7:F1} tok/s  peak RSS {Mb(f.PeakRssBytes)}";

    private static string Fig(double? v) => v is { } x && !double.IsNaN(x) ? x.ToString("F1", CultureInfo.InvariantCulture) : "—";

    private static string Ratio(double ours, double? theirs) =>
        theirs is { } t && t > 0 && !double.IsNaN(ours) ? (ours / t).ToString("F2", CultureInfo.InvariantCulture) + "×" : "—";

    private static string Mb(long bytes) => bytes > 0 ? $"{bytes / 1e6:F0} MB" : "n/a";

    private static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "?";
        }
    }

    /// <summary>Linux: writing 5 to clear_refs resets VmHWM to the current RSS, so each file gets its own peak.</summary>
    private static void ResetPeakRss()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The peak then covers the whole run so far: still an upper bound.
        }
    }

    private static long PeakRss()
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
