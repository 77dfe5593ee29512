using System.Globalization;
using Rbee.Hive.Devices;

namespace Rbee.Hive.Monitoring;

/// <summary>
/// VRAM per pid through <c>nvidia-smi</c>, only where it is installed (DESIGN.md "Workers under the hive", Monitor).
/// Without it every GPU field stays null: no GPU is not "0 MB on a GPU".
/// </summary>
public sealed class GpuProcessProbe(NvidiaSmi smi)
{
    public long? TotalVramMb { get; private set; }

    /// <summary>Used VRAM (MiB) per pid, or null when no GPU tool is present or it fails.</summary>
    public async Task<IReadOnlyDictionary<int, long>?> SampleAsync(CancellationToken ct)
    {
        if (!smi.Present) return null;
        if (TotalVramMb is null && await smi.RunAsync(["--query-gpu=memory.total", "--format=csv,noheader,nounits"], ct) is { } totals)
            TotalVramMb = totals.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Sum(l => long.TryParse(l.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0);
        var text = await smi.RunAsync(["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"], ct);
        if (text is null) return null;
        var map = new Dictionary<int, long>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(',', StringSplitOptions.TrimEntries);
            if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid)
                && long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var mb))
                map[pid] = map.GetValueOrDefault(pid) + mb;
        }
        return map;
    }
}
