using System.Globalization;

namespace Rbee.Hive.Devices;

/// <summary>Cumulative CPU time of the whole machine, from the <c>cpu</c> line of <c>/proc/stat</c> (clock ticks).</summary>
public readonly record struct CpuTimes(ulong Total, ulong Idle)
{
    /// <summary>Busy share of the whole machine between two readings, 0–100; null when no time passed.</summary>
    public static double? BusyPercent(CpuTimes before, CpuTimes after)
    {
        if (after.Total <= before.Total) return null;
        var total = after.Total - before.Total;
        var idle = after.Idle >= before.Idle ? after.Idle - before.Idle : 0;
        return Math.Clamp(100.0 * (total - Math.Min(idle, total)) / total, 0, 100);
    }
}

/// <summary>Parsers for the <c>/proc</c> files node stats and devices come from; pure, so tested on samples.</summary>
public static class NodeProcFiles
{
    /// <summary>
    /// The aggregate <c>cpu</c> line: user nice system idle iowait irq softirq steal [guest guest_nice]. Idle is
    /// idle + iowait; guest time is already counted in user, so it is left out of the total.
    /// </summary>
    public static CpuTimes? ParseStat(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith("cpu ", StringComparison.Ordinal)) continue;
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 5) return null;
            ulong total = 0;
            var values = new ulong[Math.Min(f.Length - 1, 8)];
            for (var i = 0; i < values.Length; i++)
            {
                if (!ulong.TryParse(f[i + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out values[i])) return null;
                total += values[i];
            }
            var idle = values[3] + (values.Length > 4 ? values[4] : 0);
            return new CpuTimes(total, idle);
        }
        return null;
    }

    /// <summary>Total and used RAM in bytes from <c>/proc/meminfo</c>: used = MemTotal − MemAvailable.</summary>
    public static (long? TotalBytes, long? UsedBytes) ParseMemInfo(string text)
    {
        long? total = null, available = null, free = null, buffers = null, cached = null;
        foreach (var line in text.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon < 0) continue;
            var key = line[..colon];
            var value = KiB(line[(colon + 1)..]);
            switch (key)
            {
                case "MemTotal": total = value; break;
                case "MemAvailable": available = value; break;
                case "MemFree": free = value; break;
                case "Buffers": buffers = value; break;
                case "Cached": cached = value; break;
            }
        }
        // Kernels before 3.14 have no MemAvailable; free + buffers + cached is the usual estimate there.
        available ??= free is { } f && buffers is { } b && cached is { } c ? f + b + c : null;
        long? used = total is { } t && available is { } a ? Math.Max(0, t - a) : null;
        return (total, used);
    }

    /// <summary>The CPU's model name and the number of logical CPUs from <c>/proc/cpuinfo</c>.</summary>
    public static (string? ModelName, int Processors) ParseCpuInfo(string text)
    {
        string? name = null;
        var processors = 0;
        foreach (var line in text.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon < 0) continue;
            var key = line[..colon].Trim();
            if (key == "processor") processors++;
            else if (name is null && key is "model name" or "Model" or "Hardware") name = line[(colon + 1)..].Trim();
        }
        return (string.IsNullOrEmpty(name) ? null : name, processors);
    }

    private static long? KiB(string value)
    {
        var parts = value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0 || !long.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var n)) return null;
        return parts.Length > 1 && parts[1] == "kB" ? n * 1024 : n;
    }
}
