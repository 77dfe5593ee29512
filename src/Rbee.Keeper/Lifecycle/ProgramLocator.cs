namespace Rbee.Keeper.Lifecycle;

/// <summary>Finds <c>queen-rbee</c> / <c>rbee-hive</c>: beside the keeper's own executable, then on PATH.</summary>
public static class ProgramLocator
{
    public static string? Find(string program)
    {
        var beside = Path.Combine(AppContext.BaseDirectory, program);
        if (IsExecutable(beside)) return beside;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, program);
            if (IsExecutable(candidate)) return candidate;
        }
        return null;
    }

    private static bool IsExecutable(string path) =>
        File.Exists(path) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(path) & UnixFileMode.UserExecute) != 0);
}
