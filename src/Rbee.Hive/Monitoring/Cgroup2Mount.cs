namespace Rbee.Hive.Monitoring;

/// <summary>Where cgroup v2 is mounted, read from <c>/proc/self/mountinfo</c> (DESIGN.md "Workers under the hive", Spawn).</summary>
public static class Cgroup2Mount
{
    /// <summary>
    /// The mount point of the first writable <c>cgroup2</c> file system in <paramref name="mountinfo"/>, or null: a
    /// read-only mount (a container's) cannot hold the hive's tree.
    /// </summary>
    public static string? Parse(string mountinfo)
    {
        // "36 35 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw": field 5 is the mount point, and the file
        // system type follows the lone "-" separator (optional fields before it vary in number).
        foreach (var line in mountinfo.Split('\n'))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var dash = Array.IndexOf(fields, "-");
            if (dash < 5 || dash + 1 >= fields.Length) continue;
            if (fields[dash + 1] == "cgroup2" && !fields[5].Split(',').Contains("ro")) return Unescape(fields[4]);
        }
        return null;
    }

    /// <summary>The hive's own cgroup path relative to the v2 mount, from <c>/proc/self/cgroup</c> ("0::/path").</summary>
    public static string? OwnCgroup(string procSelfCgroup)
    {
        foreach (var line in procSelfCgroup.Split('\n'))
            if (line.StartsWith("0::", StringComparison.Ordinal)) return line[3..].Trim();
        return null;
    }

    public static string? Find() => ProcFiles.TryRead("/proc/self/mountinfo") is { } text ? Parse(text) : null;

    // mountinfo escapes space, tab, newline and backslash as octal (\040 ...).
    private static string Unescape(string s) =>
        s.Replace("\\040", " ", StringComparison.Ordinal).Replace("\\011", "\t", StringComparison.Ordinal)
         .Replace("\\012", "\n", StringComparison.Ordinal).Replace("\\134", "\\", StringComparison.Ordinal);
}
