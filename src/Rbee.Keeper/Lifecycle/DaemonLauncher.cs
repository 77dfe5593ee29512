using System.Diagnostics;
using System.Runtime.InteropServices;
using Rbee.Keeper.Connection;

namespace Rbee.Keeper.Lifecycle;

/// <summary>
/// Starts a daemon in the background so it outlives the CLI: its own session (<c>setsid</c>), stdin from
/// /dev/null, stdout and stderr appended to a log file (never a pipe into the keeper), pid in a pid file.
/// </summary>
public static partial class DaemonLauncher
{
    public sealed record Started(string Program, int Pid, string LogPath);

    public static Started Start(string program, string executable, IEnumerable<string> args, IReadOnlyDictionary<string, string> environment)
    {
        var log = KeeperPaths.LogFile(program);
        Directory.CreateDirectory(Path.GetDirectoryName(log)!);
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        // sh redirects, then execs setsid, which execs the daemon without forking (the keeper's child is not a
        // group leader), so the pid we see is the daemon's.
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$0\" \"$@\" >>\"$RBEE_KEEPER_DAEMON_LOG\" 2>&1 </dev/null");
        if (File.Exists("/usr/bin/setsid")) { psi.ArgumentList.Add("/usr/bin/setsid"); psi.ArgumentList.Add(executable); }
        else psi.ArgumentList.Add(executable);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["RBEE_KEEPER_DAEMON_LOG"] = log;
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {executable}");
        var pidFile = KeeperPaths.PidFile(program);
        Directory.CreateDirectory(Path.GetDirectoryName(pidFile)!);
        File.WriteAllText(pidFile, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n");
        return new Started(program, process.Id, log);
    }

    /// <summary>The pid in the program's pid file, when that process is alive and still runs <paramref name="program"/>.</summary>
    public static int? RunningPid(string program)
    {
        try
        {
            if (!int.TryParse(File.ReadAllText(KeeperPaths.PidFile(program)).Trim(), out var pid)) return null;
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
            if (File.ReadAllText($"/proc/{pid}/stat").Split(") ").ElementAtOrDefault(1)?.StartsWith('Z') == true) return false;
            return cmdline.Split('\0').Any(part => Path.GetFileName(part) == program);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public static void ForgetPid(string program)
    {
        try { File.Delete(KeeperPaths.PidFile(program)); } catch (IOException) { }
    }

    public static bool Signal(int pid, int signal) => Kill(pid, signal) == 0;

    public const int SIGTERM = 15;
    public const int SIGKILL = 9;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int sig);
}
