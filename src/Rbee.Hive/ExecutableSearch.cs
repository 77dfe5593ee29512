namespace Rbee.Hive;

/// <summary>
/// Finds the programs the hive runs (worker engines, <c>setsid</c>, <c>nvidia-smi</c>) the way a shell does: the first
/// executable file of that name in a directory of <c>PATH</c>. One lookup, so every caller agrees on what "on PATH" means.
/// </summary>
public static class ExecutableSearch
{
    public static string? OnPath(string name, string? pathVariable = null)
    {
        foreach (var dir in (pathVariable ?? Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (IsExecutable(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>An existing file with an execute bit (a directory or a plain data file of that name is not a program).</summary>
    public static bool IsExecutable(string path)
    {
        if (!File.Exists(path)) return false;
        if (OperatingSystem.IsWindows()) return true;
        var mode = File.GetUnixFileMode(path);
        return (mode & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
    }
}
