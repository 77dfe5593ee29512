using System.Runtime.InteropServices;

namespace Rbee.Hive.Models;

/// <summary>
/// Which files a spawn may name by path (DESIGN.md "Security"): only those that, once every symlink is resolved (of the
/// file and of each root), lie under one of the directories the hive serves models from, or are a file configured as a
/// model. A hive that runs as root must never let a caller choose what it reads or runs, so <c>/etc/shadow</c>, a
/// symlink in the models directory that points out of it, or <c>../..</c> are all outside.
/// </summary>
public sealed partial class ModelPathConfinement(IReadOnlyList<string> roots)
{
    /// <summary>The directories (or single files) a model path must lie under, as configured (unresolved).</summary>
    public IReadOnlyList<string> Roots { get; } = roots;

    /// <summary>True when <paramref name="fullPath"/> is an existing file whose real path lies under one of <see cref="Roots"/>.</summary>
    public bool Allows(string fullPath)
    {
        if (RealPath(fullPath) is not { } real || !File.Exists(real)) return false;
        foreach (var root in Roots)
        {
            // A root that does not exist (yet) holds nothing; its real path is taken now, since it may be a symlink itself.
            if (RealPath(root) is not { } realRoot) continue;
            if (real == realRoot) return true;
            var prefix = realRoot.EndsWith('/') ? realRoot : realRoot + "/";
            if (real.StartsWith(prefix, StringComparison.Ordinal)) return true;
        }
        return false;
    }

    /// <summary>realpath(3): the canonical absolute path with every symlink, <c>.</c> and <c>..</c> resolved; null when a part is missing.</summary>
    public static string? RealPath(string path)
    {
        if (OperatingSystem.IsWindows()) return Path.Exists(path) ? Path.GetFullPath(path) : null;
        var resolved = realpath(path, IntPtr.Zero);
        if (resolved == IntPtr.Zero) return null;
        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            free(resolved);
        }
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr realpath(string path, IntPtr resolved);

    [LibraryImport("libc")]
    private static partial void free(IntPtr pointer);
}
