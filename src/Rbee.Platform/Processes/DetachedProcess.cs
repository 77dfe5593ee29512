using System.Diagnostics;

namespace Rbee.Platform.Processes;

/// <summary>
/// Starts a program that must outlive the process starting it (a daemon the CLI starts, a worker the hive starts):
/// stdin from /dev/null, stdout and stderr appended to a log file (never a pipe into the parent), its own session and
/// process group through <c>setsid</c> (a signal to the parent's group does not reach it), and optionally moved into a
/// cgroup before it runs any code of its own (DESIGN.md "Workers under the hive", Spawn).
/// </summary>
public static class DetachedProcess
{
    /// <summary>
    /// The shell shim between fork and the program (<c>Process.Start</c> cannot act there). <c>$1</c> = a
    /// <c>cgroup.procs</c> file to enter or <c>-</c>, <c>$2</c> = the log file, then the command. It execs setsid, which
    /// execs the program without forking (the shim is not a group leader), so the pid the parent sees is the program's.
    /// </summary>
    public const string Shim =
        "procs=$1; log=$2; shift 2; " +
        "if [ \"$procs\" != - ]; then echo $$ > \"$procs\" || { echo \"rbee: cannot enter cgroup $procs\" >> \"$log\"; exit 97; }; fi; " +
        "exec \"$@\" < /dev/null >> \"$log\" 2>&1";

    /// <summary>The shim's exit code when it cannot enter the cgroup.</summary>
    public const int CannotEnterCgroupExitCode = 97;

    /// <summary><c>setsid</c> on PATH, else <c>/usr/bin/setsid</c>, else null (the program then shares the parent's session).</summary>
    public static string? Setsid { get; } = ExecutableSearch.OnPath("setsid") ?? (File.Exists("/usr/bin/setsid") ? "/usr/bin/setsid" : null);

    /// <summary>
    /// The start info of <paramref name="program"/> with <paramref name="arguments"/> run through the shim; the caller
    /// adds its environment and starts it. <paramref name="cgroupProcs"/> null: no cgroup to enter.
    /// <paramref name="dropTo"/>: a command (e.g. <c>setpriv --reuid=…</c>) the shim execs after it entered the cgroup and
    /// opened the log, which then execs the rest: what runs as another user gets neither the cgroup nor the log to choose.
    /// </summary>
    public static ProcessStartInfo StartInfo(string program, IEnumerable<string> arguments, string logPath,
        string? cgroupProcs = null, string? workingDirectory = null, string shimName = "rbee-shim", IEnumerable<string>? dropTo = null)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(Shim);
        psi.ArgumentList.Add(shimName);
        psi.ArgumentList.Add(cgroupProcs ?? "-");
        psi.ArgumentList.Add(logPath);
        foreach (var a in dropTo ?? []) psi.ArgumentList.Add(a);
        if (Setsid is not null) psi.ArgumentList.Add(Setsid);
        psi.ArgumentList.Add(program);
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        return psi;
    }
}
