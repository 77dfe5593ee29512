using System.Globalization;
using System.Runtime.InteropServices;

namespace Rbee.Bench.Proxy;

/// <summary>CPU time of processes as the kernel counts it (<c>utime + stime</c> in <c>/proc/&lt;pid&gt;/stat</c>, all threads).</summary>
internal static partial class ProcCpu
{
    private const int ScClkTck = 2; // _SC_CLK_TCK in glibc's <bits/confname.h>

    /// <summary>Clock ticks per second of the stat counters (USER_HZ, 100 on every Linux we run on, but asked, not assumed).</summary>
    public static long TicksPerSecond { get; } = Sysconf(ScClkTck) is var t and > 0 ? t : 100;

    /// <summary>utime + stime of every process in <paramref name="pids"/>, in ticks; a process that is gone counts 0.</summary>
    public static long Ticks(IReadOnlyList<int> pids)
    {
        long sum = 0;
        foreach (var pid in pids)
            if (Stat(pid) is { } f) sum += long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture);
        return sum;
    }

    public static double Milliseconds(long ticks) => ticks * 1000.0 / TicksPerSecond;

    /// <summary>The processes whose parent is <paramref name="parent"/> (nginx's workers under its master).</summary>
    public static List<int> Children(int parent)
    {
        var children = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && Stat(pid) is { } f && f[1] == parent.ToString(CultureInfo.InvariantCulture))
                children.Add(pid);
        return children;
    }

    /// <summary>The fields after <c>pid (comm) </c>: state is [0], ppid [1], utime [11], stime [12].</summary>
    private static string[]? Stat(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    [LibraryImport("libc", EntryPoint = "sysconf")]
    private static partial long Sysconf(int name);
}
