namespace Rbee.Bench.Proxy;

/// <summary>One target's figures for one shape and concurrency, over all its batches.</summary>
internal sealed record CellStats(string Target, int Count, int Failed, string? FirstError, double FirstByte50, double FirstByte99,
    double Total50, double Total99, double RequestsPerSecond, double ProxyCpuMs, double WorkerCpuMs)
{
    public static CellStats Of(string target, List<Batch> batches)
    {
        var all = batches.SelectMany(b => b.Samples).ToList();
        var ok = all.Where(s => s.Ok).ToList();
        var firstByte = ok.Select(s => s.FirstByteMs).Order().ToList();
        var total = ok.Select(s => s.TotalMs).Order().ToList();
        var wall = batches.Sum(b => b.Wall.TotalSeconds);
        return new CellStats(target, all.Count, all.Count - ok.Count, all.FirstOrDefault(s => !s.Ok).Error,
            Percentile(firstByte, 50), Percentile(firstByte, 99), Percentile(total, 50), Percentile(total, 99),
            ok.Count / wall,
            ProcCpu.Milliseconds(batches.Sum(b => b.ProxyTicks)) / all.Count,
            ProcCpu.Milliseconds(batches.Sum(b => b.WorkerTicks)) / all.Count);
    }

    private static double Percentile(List<double> sorted, double p)
    {
        if (sorted.Count == 0) return double.NaN;
        var rank = p / 100 * (sorted.Count - 1);
        var lo = (int)Math.Floor(rank);
        var hi = (int)Math.Ceiling(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }
}

/// <summary>A proxy's CPU while the other targets run: its background cost (telemetry, timers), to judge its share
/// in the per-request figure.</summary>
internal sealed class IdleCpu(IReadOnlyList<int> pids)
{
    private long _start;
    private long _ticks;
    private double _seconds;

    public void Begin() => _start = ProcCpu.Ticks(pids);

    public void End(bool counts, TimeSpan wall)
    {
        if (!counts) return;
        _ticks += ProcCpu.Ticks(pids) - _start;
        _seconds += wall.TotalSeconds;
    }

    public double MsPerSecond => _seconds > 0 ? ProcCpu.Milliseconds(_ticks) / _seconds : double.NaN;
}
