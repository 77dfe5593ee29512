using System.Diagnostics;
using Rbee.Hive.Monitoring;

namespace Rbee.Hive.Workers;

/// <summary>What a spawn asks for, already validated (type installed, model file present, device exists).</summary>
public sealed record SpawnSpec(WorkerType Type, string ModelPath, string Device, bool RestartOnFailure)
{
    /// <summary>The id the worker answers to: the catalog's id of the file, else its name without extension.</summary>
    public string ModelId { get; init; } = Rbee.Models.ModelFiles.IdOf(ModelPath);

    /// <summary><see cref="Contracts.Wire.WorkerOrigins.Queen"/> or null.</summary>
    public string? StartedBy { get; init; }
}

/// <summary>A spawn or stop that failed for a reason an operator can act on (it becomes the job's [ERROR] line).</summary>
public sealed class WorkerOperationException(string message) : Exception(message);

/// <summary>
/// Starts one worker process (DESIGN.md "Workers under the hive", launch contract and Spawn): the argument template,
/// the environment a restarted hive reads back, and a shim that enters the cgroup before the worker runs any code.
/// </summary>
public static class WorkerLauncher
{
    // The shim runs in the new process before the worker's own code: it moves itself into the worker's cgroup
    // (Process.Start cannot act between fork and exec), points stdout/stderr at the log file (never a pipe into the
    // hive, so the worker outlives it), and execs the worker through setsid (own session and process group, so a
    // signal to the hive's group does not reach it). $1 = cgroup.procs or "-", $2 = log file, then the command.
    internal const string Shim =
        "procs=$1; log=$2; shift 2; " +
        "if [ \"$procs\" != - ]; then echo $$ > \"$procs\" || { echo \"rbee: cannot enter cgroup $procs\" >> \"$log\"; exit 97; }; fi; " +
        "exec \"$@\" < /dev/null >> \"$log\" 2>&1";

    private static readonly string? Setsid = ExecutableSearch.OnPath("setsid") ?? (File.Exists("/usr/bin/setsid") ? "/usr/bin/setsid" : null);

    public static ProcessStartInfo StartInfo(SpawnSpec spec, WorkerRecord worker, string host)
    {
        var args = ArgumentTemplate.Expand(spec.Type.Options.Arguments,
            new LaunchValues(spec.ModelPath, worker.Port, host, spec.Device, worker.WorkerId!, worker.ReadyFile, spec.ModelId));
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = worker.WorkerDirectory };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(Shim);
        psi.ArgumentList.Add("rbee-worker-shim");
        psi.ArgumentList.Add(worker.CgroupPath is null ? "-" : Path.Combine(worker.CgroupPath, "cgroup.procs"));
        psi.ArgumentList.Add(worker.LogPath);
        if (Setsid is not null) psi.ArgumentList.Add(Setsid);
        psi.ArgumentList.Add(spec.Type.ProgramPath!);
        foreach (var a in args) psi.ArgumentList.Add(a);
        // The hive's own RBEE_ settings are not the worker's: a worker binds its options from the same prefix.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("RBEE_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(key);
        psi.Environment[WorkerEnvironment.WorkerId] = worker.WorkerId;
        psi.Environment[WorkerEnvironment.Model] = spec.ModelPath;
        psi.Environment[WorkerEnvironment.ModelId] = spec.ModelId;
        if (spec.StartedBy is not null) psi.Environment[WorkerEnvironment.StartedBy] = spec.StartedBy;
        psi.Environment[WorkerEnvironment.Device] = spec.Device;
        psi.Environment[WorkerEnvironment.Restart] = spec.RestartOnFailure ? RestartPolicies.OnFailure : RestartPolicies.No;
        if (spec.Device.StartsWith("cuda:", StringComparison.Ordinal)) psi.Environment["CUDA_VISIBLE_DEVICES"] = spec.Device[5..];
        else if (spec.Device == "cpu") psi.Environment["CUDA_VISIBLE_DEVICES"] = "";
        return psi;
    }

    /// <summary>The last lines of a worker's log, folded into one line for an [ERROR] message.</summary>
    public static string LogTail(string path, int lines = 5)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (fs.Length > 8192) fs.Seek(-8192, SeekOrigin.End);
            using var reader = new StreamReader(fs);
            var tail = reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(lines).Select(l => l.Trim());
            var text = string.Join(" | ", tail);
            return text.Length == 0 ? "(empty)" : text;
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }
}
