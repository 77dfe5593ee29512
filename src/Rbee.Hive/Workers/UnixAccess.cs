using System.Runtime.InteropServices;

namespace Rbee.Hive.Workers;

/// <summary>
/// What another user may do with a file, told from its mode bits, owner and group (the kernel's rule without ACLs or
/// capabilities), so a root hive can refuse a spawn whose worker could not read its model instead of starting a process
/// that fails (issue 12 §1). It never changes a permission: the operator's files stay as they are.
/// </summary>
public static partial class UnixAccess
{
    /// <summary>
    /// Null when <paramref name="user"/> (with only its primary group, as the worker runs) can reach
    /// <paramref name="path"/> through every directory above it and read it (and execute it when
    /// <paramref name="execute"/>), else the first thing in the way, e.g. <c>/root (drwx------, owner uid 0)</c>.
    /// </summary>
    public static string? Blocker(string path, WorkerUser user, bool execute = false)
    {
        var full = Path.GetFullPath(path);
        if (Problem("/", user, Search) is { } root) return root;
        var at = 0;
        while ((at = full.IndexOf('/', at + 1)) > 0)
            if (Problem(full[..at], user, Search) is { } dir) return dir;
        return Problem(full, user, Read | (execute ? Search : 0));
    }

    /// <summary>A regular file (symlinks followed): not a directory, FIFO or device, which a read could block on or never end.</summary>
    public static bool IsRegularFile(string path) => TryStat(path, out _, out _, out var mode) && (mode & 0xF000) == 0x8000;

    /// <summary>Gives <paramref name="path"/> (a directory the hive made for the worker) to <paramref name="user"/>.</summary>
    public static void GiveTo(string path, WorkerUser user)
    {
        if (lchown(path, user.Uid, user.Gid) != 0)
            throw new IOException($"cannot give {path} to {user}: errno {Marshal.GetLastPInvokeError()}");
    }

    private const int Read = 4;
    private const int Search = 1;

    private static string? Problem(string path, WorkerUser user, int wanted)
    {
        if (!TryStat(path, out var uid, out var gid, out var mode)) return $"{path} (cannot be examined)";
        var bits = (int)(uid == user.Uid ? (mode >> 6) & 7 : gid == user.Gid ? (mode >> 3) & 7 : mode & 7);
        if ((bits & wanted) == wanted) return null;
        return $"{path} ({ModeText(mode)}, owner uid {uid} gid {gid})";
    }

    internal static string ModeText(uint mode)
    {
        Span<char> text = stackalloc char[10];
        text[0] = (mode & 0xF000) == 0x4000 ? 'd' : '-';
        const string rwx = "rwx";
        for (var i = 0; i < 9; i++) text[1 + i] = (mode & (1u << (8 - i))) != 0 ? rwx[i % 3] : '-';
        return new string(text);
    }

    /// <summary>statx(2), whose layout is the same on every architecture (unlike struct stat); follows symlinks.</summary>
    internal static unsafe bool TryStat(string path, out uint uid, out uint gid, out uint mode)
    {
        const int AtFdCwd = -100;
        const uint StatxBasicStats = 0x7ff;
        var buffer = stackalloc byte[256];
        uid = gid = mode = 0;
        if (statx(AtFdCwd, path, 0, StatxBasicStats, buffer) != 0) return false;
        uid = *(uint*)(buffer + 20);
        gid = *(uint*)(buffer + 24);
        mode = *(ushort*)(buffer + 28);
        return true;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lchown(string path, uint owner, uint group);
}
