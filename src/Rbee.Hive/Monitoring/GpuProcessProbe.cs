using System.Diagnostics;
using System.Globalization;

namespace Rbee.Hive.Monitoring;

/// <summary>
/// VRAM per pid through <c>nvidia-smi</c>, only where it is installed (DESIGN.md "Workers under the hive", Monitor).
/// Without it every GPU field stays null: no GPU is not "0 MB on a GPU".
/// </summary>
public sealed class GpuProcessProbe
{
    private readonly string? _smi = FindOnPath("nvidia-smi");

    public long? TotalVramMb { get; private set; }

    public bool Present => _smi is not null;

    /// <summary>Used VRAM (MiB) per pid, or null when no GPU tool is present or it fails.</summary>
    public IReadOnlyDictionary<int, long>? Sample()
    {
        if (_smi is null) return null;
        TotalVramMb ??= Run("--query-gpu=memory.total --format=csv,noheader,nounits")?
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Sum(l => long.TryParse(l.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0);
        var text = Run("--query-compute-apps=pid,used_memory --format=csv,noheader,nounits");
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

    private string? Run(string args)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(_smi!, args) { RedirectStandardOutput = true, UseShellExecute = false });
            if (p is null) return null;
            var output = p.StandardOutput.ReadToEnd();
            return p.WaitForExit(5000) && p.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    internal static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}
