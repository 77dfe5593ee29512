using Rbee.Testing;

namespace Rbee.SystemTests.Infrastructure;

/// <summary>The system tests' name for <see cref="TestCgroups"/> (the one clean-up of a test hive's cgroup root).</summary>
public static class CgroupRoots
{
    public static TimeSpan EmptyBudget => TestCgroups.EmptyBudget;

    public static string? Mount => TestCgroups.Mount;

    public static string? PathOf(string rootName) => TestCgroups.PathOf(rootName);

    public static void Remove(string rootName) => TestCgroups.RemoveAsync(rootName).GetAwaiter().GetResult();

    public static Task RemoveAsync(string rootName) => TestCgroups.RemoveAsync(rootName);
}
