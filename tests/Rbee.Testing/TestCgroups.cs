namespace Rbee.Testing;

/// <summary>
/// Removes the cgroup root a test hive created, leaving the machine as it was. Workers outlive a killed hive by design
/// (DESIGN.md "Workers under the hive"), so the root may still hold processes: <c>cgroup.kill</c> ends the whole
/// subtree at once, including a process forked while the test tears down, which a pid-by-pid kill would miss.
/// </summary>
public static class TestCgroups
{
    /// <summary>The kernel empties a killed tree asynchronously; on the loaded test machine, with headroom.</summary>
    public static readonly TimeSpan EmptyBudget = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>The cgroup v2 mount from /proc/self/mountinfo, or null where there is none.</summary>
    public static string? Mount { get; } = FindMount();

    public static string? PathOf(string rootName) => Mount is null ? null : Path.Combine(Mount, rootName);

    /// <summary>Kills everything under <paramref name="rootName"/> and removes its directories, deepest first; throws
    /// naming the root and its <c>cgroup.events</c> when the kernel has not emptied it within <see cref="EmptyBudget"/>.</summary>
    public static Task RemoveAsync(string rootName) => PathOf(rootName) is { } root ? RemoveTreeAsync(root) : Task.CompletedTask;

    /// <summary><see cref="RemoveAsync"/> for a tree given by its full path (a hive's <c>CgroupTree.RootPath</c>).</summary>
    public static async Task RemoveTreeAsync(string root)
    {
        if (!Directory.Exists(root)) return;
        try { await File.WriteAllTextAsync(Path.Combine(root, "cgroup.kill"), "1"); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }

        // rmdir fails with EBUSY until the kernel has emptied the tree; nothing announces that, so a bounded poll.
        var until = DateTime.UtcNow + EmptyBudget;
        while (true)
        {
            foreach (var dir in Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length).Append(root))
            {
                try { Directory.Delete(dir); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
            if (!Directory.Exists(root)) return;
            if (DateTime.UtcNow >= until)
                throw new TimeoutException($"phase teardown: expected cgroup root {root} killed and removed within {EmptyBudget.TotalSeconds} s; last seen: {Populated(root)}");
            await Task.Delay(PollInterval);
        }
    }

    private static string Populated(string root)
    {
        try { return File.ReadAllText(Path.Combine(root, "cgroup.events")).ReplaceLineEndings(" ").Trim(); }
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
