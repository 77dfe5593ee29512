using System.Runtime.InteropServices;

namespace Rbee.Testing;

/// <summary>POSIX signals for crash tests: a hard kill is not a graceful stop (STYLE.md §8).</summary>
public static partial class Signals
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int sig);

    public static void Send(int pid, int signal)
    {
        if (Kill(pid, signal) != 0)
            throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    public static bool IsAlive(int pid) => Kill(pid, 0) == 0;
}
