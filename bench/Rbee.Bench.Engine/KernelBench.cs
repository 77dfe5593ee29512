using System.Diagnostics;
using System.Runtime.InteropServices;
using Rbee.Worker.Gguf;
using Rbee.Worker.Kernels;
using Rbee.Worker.Model;

namespace Rbee.Bench.Engine;

/// <summary>
/// Kernel-only figures: MatVec over a set of matrices too large for the caches (the FFN of several layers), so
/// each call streams its weights from memory as decode does; reported as weight GB/s and as CPU time per GB.
/// </summary>
internal static unsafe class KernelBench
{
    public static void Run(int threads, Action<string> log)
    {
        ComputePool.Configure(threads);
        const int rows = 2816, cols = 1024, matrices = 24; // ~24 × 2.9M weights: beyond any cache
        log($"| kernel | threads | MB/matrix | GB/s (wall) | CPU ms per GB |");
        log($"|---|---:|---:|---:|---:|");
        var proc = Process.GetCurrentProcess();
        var prefill = new List<string> { "", $"| prefill kernel (MatMat, {PrefillTokens} tokens) | threads | GMAC per CPU s, panels | four-token kernels |", "|---|---:|---:|---:|" };
        foreach (var type in new[] { GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q5_K })
        {
            var rowBytes = GgmlTypeInfo.RowBytes(type, cols);
            var bytes = rowBytes * rows;
            var data = (byte*)NativeMemory.AlignedAlloc((nuint)(bytes * matrices), 64);
            try
            {
                var src = new float[cols];
                var rng = new Random(1);
                for (var r = 0; r < rows * matrices; r++)
                {
                    if (r < 64) for (var c = 0; c < cols; c++) src[c] = (float)(rng.NextDouble() * 2 - 1);
                    Quantize.Row(type, src, new Span<byte>(data + r * rowBytes, (int)rowBytes));
                }
                var x = new float[cols];
                for (var c = 0; c < cols; c++) x[c] = (float)(rng.NextDouble() * 2 - 1);
                var y = new float[rows];
                for (var m = 0; m < matrices; m++) MatMul.MatVec(new WeightMatrix(type, rows, cols, data + m * bytes), x, y);
                var best = 0.0;
                var cpuPerGb = double.MaxValue;
                for (var pass = 0; pass < 5; pass++)
                {
                    proc.Refresh();
                    var cpu0 = proc.TotalProcessorTime;
                    var sw = Stopwatch.StartNew();
                    for (var m = 0; m < matrices; m++) MatMul.MatVec(new WeightMatrix(type, rows, cols, data + m * bytes), x, y);
                    var s = sw.Elapsed.TotalSeconds;
                    proc.Refresh();
                    var gb = bytes * (double)matrices / 1e9;
                    best = Math.Max(best, gb / s);
                    cpuPerGb = Math.Min(cpuPerGb, (proc.TotalProcessorTime - cpu0).TotalMilliseconds / gb);
                }
                log($"| {type} | {threads} | {bytes / 1e6:F2} | {best:F1} | {cpuPerGb:F0} |");
                prefill.Add($"| {type} | {threads} | {Prefill(new WeightMatrix(type, rows, cols, data), true):F1} | {Prefill(new WeightMatrix(type, rows, cols, data), false):F1} |");
            }
            finally
            {
                NativeMemory.AlignedFree(data);
            }
        }
        foreach (var line in prefill) log(line);
    }

    /// <summary>The engine's prefill batch (ModelLoadOptions.BatchSize).</summary>
    private static readonly int PrefillTokens = new ModelLoadOptions().BatchSize;

    /// <summary>
    /// Prefill's matrix product on one matrix (it fits in L2, as a layer's weights are reused by a whole batch):
    /// best GMAC per CPU second (the machine is shared; wall time says more about the neighbours) of five passes, with <see cref="MatMul.PrefillPanels"/> on or off.
    /// </summary>
    private static double Prefill(WeightMatrix w, bool panels)
    {
        var x = new float[PrefillTokens * w.Cols];
        var rng = new Random(2);
        for (var i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var y = new float[PrefillTokens * w.Rows];
        var was = MatMul.PrefillPanels;
        MatMul.PrefillPanels = panels;
        try
        {
            MatMul.MatMat(w, x, PrefillTokens, y);
            var best = 0.0;
            var proc = Process.GetCurrentProcess();
            for (var pass = 0; pass < 5; pass++)
            {
                proc.Refresh();
                var cpu0 = proc.TotalProcessorTime;
                for (var rep = 0; rep < 4; rep++) MatMul.MatMat(w, x, PrefillTokens, y);
                proc.Refresh();
                best = Math.Max(best, 4.0 * w.Rows * w.Cols * PrefillTokens / (proc.TotalProcessorTime - cpu0).TotalSeconds / 1e9);
            }
            return best;
        }
        finally
        {
            MatMul.PrefillPanels = was;
        }
    }
}
