using System.Runtime.InteropServices;

namespace Rbee.Hive.Monitoring;

/// <summary>The few Linux system calls worker monitoring needs and .NET does not expose (inotify, flock, signals).</summary>
internal static partial class Libc
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    public const int IN_NONBLOCK = 0x800;
    public const int IN_CLOEXEC = 0x80000;
    public const uint IN_MODIFY = 0x2;
    public const uint IN_CLOSE_WRITE = 0x8;
    public const uint IN_MOVED_FROM = 0x40;
    public const uint IN_MOVED_TO = 0x80;
    public const uint IN_CREATE = 0x100;
    public const uint IN_DELETE = 0x200;
    public const uint IN_DELETE_SELF = 0x400;
    public const uint IN_MOVE_SELF = 0x800;
    public const uint IN_ONLYDIR = 0x01000000;
    public const uint IN_IGNORED = 0x8000;
    public const uint IN_Q_OVERFLOW = 0x4000;

    public const int O_RDONLY = 0x0;
    public const int O_RDWR = 0x2;
    public const int O_CREAT = 0x40;
    public const int O_CLOEXEC = 0x80000;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;

    public const short POLLIN = 0x1;
    public const int EFD_CLOEXEC = 0x80000;
    public const int EFD_NONBLOCK = 0x800;
    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int ESRCH = 3;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int inotify_init1(int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int inotify_add_watch(int fd, string path, uint mask);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int inotify_rm_watch(int fd, int wd);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint read(int fd, byte* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint write(int fd, byte* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int poll(PollFd* fds, nuint nfds, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true)]
    public static unsafe partial int open(byte* path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int flock(int fd, int operation);

    [LibraryImport("libc", SetLastError = true)]
    public static partial long sysconf(int name);

    private const int _SC_CLK_TCK = 2;

    /// <summary>Clock ticks per second, the unit of <c>/proc/&lt;pid&gt;/stat</c> start times.</summary>
    public static long ClockTicks { get; } = Math.Max(1, sysconf(_SC_CLK_TCK));

    /// <summary>Sends a signal; false when the process is already gone.</summary>
    public static bool Signal(int pid, int sig) => Rbee.Platform.Processes.Signals.Send(pid, sig);

    public static bool IsAlive(int pid) => Rbee.Platform.Processes.Signals.IsAlive(pid);
}
