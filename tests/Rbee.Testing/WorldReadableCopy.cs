namespace Rbee.Testing;

/// <summary>
/// A copy of built programs (each with its folder) in a temporary folder every user may enter and read, for tests that
/// run them as an unprivileged user: the checkout itself may lie under a folder only its owner can enter (a 0700
/// <c>mktemp -d</c>, <c>/root</c>). Removed on dispose.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class WorldReadableCopy : IDisposable
{
    private const UnixFileMode Public = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("rbee-public-");

    public WorldReadableCopy(params string[] programs)
    {
        File.SetUnixFileMode(_root.FullName, Public);
        foreach (var program in programs)
        {
            // The programs share their libraries (one build): one folder holds them all.
            foreach (var file in Directory.EnumerateFiles(RepoPaths.ExecutableDirectory(program)))
            {
                var target = Path.Combine(_root.FullName, Path.GetFileName(file));
                if (!File.Exists(target)) File.Copy(file, target);
            }
        }
    }

    /// <summary>The folder of the copies (0755).</summary>
    public string Root => _root.FullName;

    public string Executable(string program) => Path.Combine(_root.FullName, program);

    public void Dispose()
    {
        try { _root.Delete(recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
