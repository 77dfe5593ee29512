namespace Rbee.Platform.Processes;

/// <summary>
/// Finds the programs rbee runs (the daemons the CLI starts, worker engines, <c>setsid</c>, <c>nvidia-smi</c>) the way a
/// shell does: the first executable file of that name in a directory of <c>PATH</c>. One lookup, so every caller agrees
/// on what "on PATH" means.
/// </summary>
public static class ExecutableSearch
{
    /// <summary>Beside the running program's own executable (an installed set of rbee programs), then on PATH.</summary>
    public static string? BesideOrOnPath(string name, string? pathVariable = null)
    {
        var beside = Path.Combine(AppContext.BaseDirectory, name);
        return IsExecutable(beside) ? beside : OnPath(name, pathVariable);
    }

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
