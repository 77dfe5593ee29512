namespace Rbee.SystemTests.Infrastructure;

/// <summary>
/// Removes the cgroup root a test hive created, leaving the machine as it was. Workers outlive a killed hive by design
/// (DESIGN.md "Workers under the hive"), so the root may still hold processes: <c>cgroup.kill</c> ends the whole
/// subtree at once, including a process forked while the test tears down, which a pid-by-pid kill would miss.
/// </summary>
public static class CgroupRoots
{
    /// <summary>The kernel empties a killed tree asynchronously; on the loaded test machine, with headroom.</summary>
    public static readonly TimeSpan EmptyBudget = TimeSpan.FromSeconds(10);

    /// <summary>The cgroup v2 mount from /proc/self/mountinfo, or null where there is none.</summary>
    public static string? Mount { get; } = FindMount();

    public static string? PathOf(string rootName) => Mount is null ? null : System.IO.Path.Combine(Mount, rootName);

    public static void Remove(string rootName) => RemoveAsync(rootName).GetAwaiter().GetResult();

    public static async Task RemoveAsync(string rootName)
    {
        var root = PathOf(rootName);
        if (root is null || !Directory.Exists(root)) return;
        try { await File.WriteAllTextAsync(System.IO.Path.Combine(root, "cgroup.kill"), "1"); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }

        // rmdir fails with EBUSY until the kernel has emptied the tree; nothing to await here, so a bounded poll.
        await Eventually.HoldsAsync("teardown", $"cgroup root {root} killed and removed", EmptyBudget, () =>
        {
            if (!Directory.Exists(root)) return (true, "");
            foreach (var dir in Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length).Append(root))
            {
                try { Directory.Delete(dir); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
            return Directory.Exists(root) ? (false, Populated(root)) : (true, "");
        });
    }

    private static string Populated(string root)
    {
        try { return File.ReadAllText(System.IO.Path.Combine(root, "cgroup.events")).ReplaceLineEndings(" ").Trim(); }
        catch (IOException e) { return e.Message; }
    }

    private static string? FindMount()
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
