using Rbee.Contracts.Wire;
using Rbee.Hive.Devices;

namespace Rbee.Hive.Telemetry;

/// <summary>
/// Measures the machine for each telemetry frame (DESIGN.md "Wire contract", node stats): CPU % of the whole
/// machine from <c>/proc/stat</c> deltas between samples, RAM used/total from <c>/proc/meminfo</c>, GPUs from
/// nvidia-smi when present. Anything it cannot measure is null. One caller at a time (the telemetry loop).
/// </summary>
public sealed class NodeStatsSampler
{
    private readonly NvidiaSmi _nvidiaSmi;
    private readonly Func<string?> _readStat;
    private readonly Func<string?> _readMemInfo;
    private CpuTimes? _previous;
    private double? _last;

    public NodeStatsSampler(NvidiaSmi nvidiaSmi) : this(nvidiaSmi, () => Monitoring.ProcFiles.TryRead("/proc/stat"), () => Monitoring.ProcFiles.TryRead("/proc/meminfo")) { }

    internal NodeStatsSampler(NvidiaSmi nvidiaSmi, Func<string?> readStat, Func<string?> readMemInfo)
    {
        _nvidiaSmi = nvidiaSmi;
        _readStat = readStat;
        _readMemInfo = readMemInfo;
        // The baseline: the first frame then has a delta as soon as any CPU time has passed.
        _previous = ReadCpu();
    }

    /// <summary>
    /// CPU % since the previous call (or since start). When no clock tick passed since then (an extra frame right
    /// after a regular one; /proc/stat counts in 10 ms ticks) the last measured value stands; null only before
    /// anything could be measured.
    /// </summary>
    public double? SampleCpuPercent()
    {
        var now = ReadCpu();
        if (now is null) return null;
        if (_previous is { } before && CpuTimes.BusyPercent(before, now.Value) is { } pct)
        {
            _last = Math.Round(pct, 1);
            _previous = now;
        }
        _previous ??= now;
        return _last;
    }

    public async Task<NodeStats> SampleAsync(CancellationToken ct)
    {
        var cpu = SampleCpuPercent();
        var (total, used) = NodeProcFiles.ParseMemInfo(_readMemInfo() ?? "");
        var gpus = await _nvidiaSmi.QueryAsync(ct);
        return new NodeStats(cpu, used, total,
            gpus?.Select(g => new GpuStats(g.Id, g.UtilPct, g.VramUsedBytes, g.VramTotalBytes, g.TempC)).ToList() ?? []);
    }

    private CpuTimes? ReadCpu() => _readStat() is { } text ? NodeProcFiles.ParseStat(text) : null;
}
