using System.Runtime.InteropServices;

namespace Rbee.Platform.Processes;

/// <summary>
/// POSIX signals to processes .NET did not start or cannot name (<c>Process.Kill</c> knows only SIGKILL and only its own
/// children): a daemon found by pid file, a worker's process group (a negative pid).
/// </summary>
public static partial class Signals
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    private const int ESRCH = 3;

    /// <summary>Sends <paramref name="signal"/>; false when the process is gone (or not ours to signal).</summary>
    public static bool Send(int pid, int signal) => kill(pid, signal) == 0;

    /// <summary>Whether <paramref name="pid"/> exists (signal 0). A process we may not signal (EPERM) still exists.</summary>
    public static bool IsAlive(int pid) => kill(pid, 0) == 0 || Marshal.GetLastPInvokeError() != ESRCH;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);
}
