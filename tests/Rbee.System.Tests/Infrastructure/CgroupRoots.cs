namespace Rbee.SystemTests.Infrastructure;

/// <summary>Removes the cgroup root a test hive created (empty once its workers are gone), leaving the machine as it was.</summary>
public static class CgroupRoots
{
    public static void Remove(string rootName)
    {
        var mount = Mount();
        if (mount is null) return;
        var root = Path.Combine(mount, rootName);
        if (!Directory.Exists(root)) return;
        // Children first: a cgroup directory can only be removed when it has no children and no processes.
        foreach (var dir in Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length).Append(root))
        {
            try { Directory.Delete(dir); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static string? Mount()
    {
        if (!File.Exists("/proc/self/mountinfo")) return null;
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var f = line.Split(' ');
            var dash = Array.IndexOf(f, "-");
            if (dash > 4 && dash + 1 < f.Length && f[dash + 1] == "cgroup2") return f[4];
        }
        return null;
    }
}
