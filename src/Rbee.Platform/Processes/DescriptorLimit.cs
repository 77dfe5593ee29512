using System.Runtime.InteropServices;

namespace Rbee.Platform.Processes;

/// <summary>
/// The process's limit on open file descriptors (<c>RLIMIT_NOFILE</c>). Every connection a daemon holds is a descriptor;
/// a daemon raises its soft limit to the hard one at start, as servers do (nginx's <c>worker_rlimit_nofile</c>, systemd's
/// own services), and sizes its connection limit from what it then has (issue 12 §2).
/// </summary>
public static partial class DescriptorLimit
{
    private const int RLIMIT_NOFILE = 7;
    private const ulong RLIM_INFINITY = ulong.MaxValue;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    /// <summary>The soft (enforced) limit, or null where it cannot be read (not Linux); <see cref="long.MaxValue"/> for unlimited.</summary>
    public static long? Soft => TryGet(out var l) ? Clamp(l.Current) : null;

    /// <summary>Raises the soft limit to the hard limit and returns the soft limit in force afterwards (null: unknown).
    /// A refusal leaves the limit as it was: the daemon then runs with what it was given.</summary>
    public static long? RaiseSoftToHard()
    {
        if (!TryGet(out var l)) return null;
        if (l.Current < l.Maximum)
        {
            var raised = new RLimit { Current = l.Maximum, Maximum = l.Maximum };
            if (setrlimit(RLIMIT_NOFILE, in raised) == 0) l = raised;
        }
        return Clamp(l.Current);
    }

    private static bool TryGet(out RLimit limit)
    {
        limit = default;
        if (!OperatingSystem.IsLinux()) return false;
        return getrlimit(RLIMIT_NOFILE, out limit) == 0;
    }

    private static long Clamp(ulong v) => v == RLIM_INFINITY || v > long.MaxValue ? long.MaxValue : (long)v;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getrlimit(int resource, out RLimit limit);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setrlimit(int resource, in RLimit limit);
}
