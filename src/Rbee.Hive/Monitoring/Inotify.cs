using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Rbee.Hive.Monitoring;

/// <summary>
/// The hive's one inotify instance (DESIGN.md "Workers under the hive", Monitor: the per-user limit is 128 instances,
/// so every watch of the hive shares this one: worker cgroups and directories, and the model directories). A dedicated thread blocks in <c>poll</c> on the inotify descriptor and
/// an eventfd used only to wake it for disposal, and calls each watch's callback with the event's file name.
/// Callbacks run on that thread: they must be short and never block.
/// </summary>
public sealed partial class Inotify : IDisposable
{
    private readonly int _fd;
    private readonly int _wake;
    private readonly Thread _thread;
    private readonly ConcurrentDictionary<int, Action<string?, uint>> _callbacks = new();
    private readonly ILogger _logger;
    private volatile bool _disposed;

    public Inotify(ILogger logger)
    {
        _logger = logger;
        _fd = Libc.inotify_init1(Libc.IN_NONBLOCK | Libc.IN_CLOEXEC);
        if (_fd < 0) throw new IOException($"inotify_init1 failed: errno {Marshal.GetLastPInvokeError()}");
        _wake = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (_wake < 0)
        {
            Libc.close(_fd);
            throw new IOException($"eventfd failed: errno {Marshal.GetLastPInvokeError()}");
        }
        _thread = new Thread(ReadLoop) { IsBackground = true, Name = "rbee-inotify" };
        _thread.Start();
    }

    /// <summary>Number of watches now held.</summary>
    public int WatchCount => _callbacks.Count;

    /// <summary>Watches <paramref name="path"/>; returns the watch descriptor, or -1 when the path cannot be watched.</summary>
    public int Add(string path, uint mask, Action<string?, uint> callback)
    {
        var wd = Libc.inotify_add_watch(_fd, path, mask);
        if (wd < 0)
        {
            Log.WatchFailed(_logger, path, Marshal.GetLastPInvokeError());
            return -1;
        }
        // inotify returns the same descriptor for the same inode; the newest callback wins, as for the kernel's mask.
        _callbacks[wd] = callback;
        return wd;
    }

    public void Remove(int wd)
    {
        if (wd < 0) return;
        if (_callbacks.TryRemove(wd, out _) && !_disposed) Libc.inotify_rm_watch(_fd, wd);
    }

    private unsafe void ReadLoop()
    {
        var buffer = new byte[64 * 1024];
        var fds = stackalloc Libc.PollFd[2];
        while (!_disposed)
        {
            fds[0] = new Libc.PollFd { Fd = _fd, Events = Libc.POLLIN };
            fds[1] = new Libc.PollFd { Fd = _wake, Events = Libc.POLLIN };
            var n = Libc.poll(fds, 2, -1);
            if (_disposed) return;
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == Libc.EINTR) continue;
                Log.LoopFailed(_logger, Marshal.GetLastPInvokeError());
                return;
            }
            if ((fds[0].Revents & Libc.POLLIN) == 0) continue;
            while (true)
            {
                nint len;
                fixed (byte* p = buffer) len = Libc.read(_fd, p, buffer.Length);
                if (len <= 0) break;
                Dispatch(buffer.AsSpan(0, (int)len));
            }
        }
    }

    private void Dispatch(ReadOnlySpan<byte> events)
    {
        // struct inotify_event { int wd; uint32 mask; uint32 cookie; uint32 len; char name[len]; }
        var offset = 0;
        while (offset + 16 <= events.Length)
        {
            var wd = BitConverter.ToInt32(events[offset..]);
            var mask = BitConverter.ToUInt32(events[(offset + 4)..]);
            var nameLen = (int)BitConverter.ToUInt32(events[(offset + 12)..]);
            string? name = null;
            if (nameLen > 0)
            {
                var raw = events.Slice(offset + 16, nameLen);
                var end = raw.IndexOf((byte)0);
                name = Encoding.UTF8.GetString(end >= 0 ? raw[..end] : raw);
            }
            offset += 16 + nameLen;

            if ((mask & Libc.IN_Q_OVERFLOW) != 0)
            {
                // Events were lost: tell every watcher, each re-reads its own state.
                foreach (var cb in _callbacks.Values) Invoke(cb, null, mask);
                continue;
            }
            if (_callbacks.TryGetValue(wd, out var callback)) Invoke(callback, name, mask);
            if ((mask & Libc.IN_IGNORED) != 0) _callbacks.TryRemove(wd, out _);
        }
    }

    private void Invoke(Action<string?, uint> callback, string? name, uint mask)
    {
        try { callback(name, mask); }
        catch (Exception e) { Log.CallbackFailed(_logger, e); }
    }

    public unsafe void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        ulong one = 1;
        Libc.write(_wake, (byte*)&one, 8);
        _thread.Join(TimeSpan.FromSeconds(2));
        Libc.close(_fd);
        Libc.close(_wake);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = Workers.WorkerEventIds.InotifyWatchFailed, Level = LogLevel.Warning, Message = "Cannot watch {Path} with inotify (errno {Errno}); the periodic scan still sees its changes")]
        public static partial void WatchFailed(ILogger logger, string path, int errno);

        [LoggerMessage(EventId = Workers.WorkerEventIds.InotifyLoopFailed, Level = LogLevel.Error, Message = "The inotify loop stopped (errno {Errno}); changes are seen by the periodic scans only")]
        public static partial void LoopFailed(ILogger logger, int errno);

        [LoggerMessage(EventId = Workers.WorkerEventIds.InotifyCallbackFailed, Level = LogLevel.Error, Message = "An inotify callback failed")]
        public static partial void CallbackFailed(ILogger logger, Exception error);
    }
}
