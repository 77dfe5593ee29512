using System.Diagnostics;
using Rbee.Platform.Paths;
using Rbee.Platform.Processes;

namespace Rbee.Keeper.Lifecycle;

/// <summary>
/// Starts a daemon in the background so it outlives the CLI (<see cref="DetachedProcess"/>: its own session, stdin from
/// /dev/null, stdout and stderr appended to a log file, never a pipe into the keeper), pid in a pid file.
/// </summary>
public static class DaemonLauncher
{
    public sealed record Started(string Program, int Pid, string LogPath);

    public static Started Start(string program, string executable, IEnumerable<string> args, IReadOnlyDictionary<string, string> environment)
    {
        var log = RbeePaths.DaemonLogFile(program);
        Directory.CreateDirectory(Path.GetDirectoryName(log)!);
        var psi = DetachedProcess.StartInfo(executable, args, log, shimName: "rbee-daemon-shim");
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {executable}");
        var pidFile = RbeePaths.DaemonPidFile(program);
        Directory.CreateDirectory(Path.GetDirectoryName(pidFile)!);
        File.WriteAllText(pidFile, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n");
        return new Started(program, process.Id, log);
    }

    /// <summary>The pid in the program's pid file, when that process is alive and still runs <paramref name="program"/>.</summary>
    public static int? RunningPid(string program)
    {
        try
        {
            if (!int.TryParse(File.ReadAllText(RbeePaths.DaemonPidFile(program)).Trim(), out var pid)) return null;
            return IsProgram(pid, program) ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Whether <paramref name="pid"/> is alive and its command line names <paramref name="program"/> (a recycled pid is not ours).</summary>
    public static bool IsProgram(int pid, string program)
    {
        try
        {
            var cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
            if (HasExited(pid)) return false;
            return cmdline.Split('\0').Any(part => Path.GetFileName(part) == program);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Whether the process we started as <paramref name="pid"/> has ended: gone, or a zombie. Used while it starts, where
    /// <see cref="IsProgram"/> would be wrong: the start goes through two execs (the shim, setsid, the daemon), and
    /// during each the kernel shows an empty command line for a moment, which reads as "not our program" although the
    /// process is alive (seen as a spurious "exited during start-up" with an empty log on a loaded machine).
    /// </summary>
    public static bool HasExited(int pid)
    {
        try
        {
            var state = File.ReadAllText($"/proc/{pid}/stat").Split(") ").ElementAtOrDefault(1);
            return state is null || state.StartsWith('Z') || state.StartsWith('X');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return true;
        }
    }

    public static void ForgetPid(string program)
    {
        try { File.Delete(RbeePaths.DaemonPidFile(program)); } catch (IOException) { }
    }
}
