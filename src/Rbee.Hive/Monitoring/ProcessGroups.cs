using System.Globalization;

namespace Rbee.Hive.Monitoring;

/// <summary>
/// Without a writable cgroup v2 (DESIGN.md "Workers under the hive"): a worker is its own session and process-group
/// leader (setsid), so its processes are those whose process group is the leader's pid.
/// </summary>
public static class ProcessGroups
{
    /// <summary>The leader and every live process in its group; empty when the leader is gone.</summary>
    public static List<int> Members(int leader)
    {
        if (!Libc.IsAlive(leader)) return [];
        var pids = new List<int> { leader };
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir.AsSpan()), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == leader) continue;
            if (KernelFile.TryReadProc(pid, "stat", out var stat) && ProcFiles.Stat(stat) is { } st && st.Pgrp == leader) pids.Add(pid);
        }
        return pids;
    }
}
