using System.Text;

namespace Rbee.Hive.Monitoring;

/// <summary>
/// Reads a small kernel file (procfs, cgroupfs) with one open, read until end and close into a reused per-thread
/// buffer. The scan reads several of these per worker every second; File.ReadAllText's FileStream, lock, stat and
/// string decoding cost more than the kernel's work, so the hot path parses the bytes in place instead.
/// </summary>
internal static class KernelFile
{
    [ThreadStatic] private static byte[]? t_buffer;

    /// <summary>The whole file, valid until the next read on this thread; false when it (or its process) is gone.</summary>
    public static bool TryRead(string path, out ReadOnlySpan<byte> content)
    {
        // Paths are ASCII here (cgroup and proc names); a NUL-terminated UTF-8 copy on the stack avoids an allocation.
        var max = Encoding.UTF8.GetMaxByteCount(path.Length) + 1;
        Span<byte> utf8 = max <= 512 ? stackalloc byte[max] : new byte[max];
        var n = Encoding.UTF8.GetBytes(path, utf8);
        utf8[n] = 0;
        return TryRead(utf8[..(n + 1)], out content);
    }

    /// <summary><c>/proc/&lt;pid&gt;/&lt;leaf&gt;</c>, e.g. <c>status</c> or <c>io</c>.</summary>
    public static bool TryReadProc(int pid, string leaf, out ReadOnlySpan<byte> content)
    {
        Span<byte> utf8 = stackalloc byte[64];
        "/proc/"u8.CopyTo(utf8);
        var at = 6;
        pid.TryFormat(utf8[at..], out var digits, provider: System.Globalization.CultureInfo.InvariantCulture);
        at += digits;
        utf8[at++] = (byte)'/';
        at += Encoding.ASCII.GetBytes(leaf, utf8[at..]);
        utf8[at++] = 0;
        return TryRead(utf8[..at], out content);
    }

    private static unsafe bool TryRead(scoped ReadOnlySpan<byte> nulTerminatedPath, out ReadOnlySpan<byte> content)
    {
        content = default;
        int fd;
        fixed (byte* p = nulTerminatedPath) fd = Libc.open(p, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (fd < 0) return false;
        try
        {
            var buffer = t_buffer ??= new byte[16 * 1024];
            var total = 0;
            while (true)
            {
                if (total == buffer.Length)
                {
                    Array.Resize(ref buffer, buffer.Length * 2);
                    t_buffer = buffer;
                }
                nint read;
                fixed (byte* b = buffer) read = Libc.read(fd, b + total, buffer.Length - total);
                if (read < 0)
                {
                    if (System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == Libc.EINTR) continue;
                    return false; // ESRCH and friends: the process went away between open and read
                }
                if (read == 0) break;
                total += (int)read;
            }
            content = buffer.AsSpan(0, total);
            return true;
        }
        finally
        {
            _ = Libc.close(fd);
        }
    }
}
