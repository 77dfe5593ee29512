using System.Diagnostics;
using Rbee.Platform.Processes;

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
    /// <param name="apiKey">The worker's key (<see cref="Rbee.Platform.Security.WorkerApiKey"/>), put in its environment, never
    /// on its command line; null starts it without one.</param>
    /// <param name="runAs">The user the worker runs as (<see cref="WorkerUser"/>); null: the hive's own.</param>
    public static ProcessStartInfo StartInfo(SpawnSpec spec, WorkerRecord worker, string host, string? apiKey = null, WorkerUser? runAs = null)
    {
        var args = ArgumentTemplate.Expand(spec.Type.Options.Arguments,
            new LaunchValues(spec.ModelPath, worker.Port, host, spec.Device, worker.WorkerId!, worker.ReadyFile, spec.ModelId));
        // The shim enters the worker's cgroup before the worker runs any code, points its output at the log file (never
        // a pipe into the hive, so the worker outlives it) and execs it through setsid (a signal to the hive's process
        // group does not reach it).
        var psi = DetachedProcess.StartInfo(spec.Type.ProgramPath!, args, worker.LogPath,
            worker.CgroupPath is null ? null : Path.Combine(worker.CgroupPath, "cgroup.procs"), runAs is null ? worker.WorkerDirectory : worker.ReadyDirectory,
            "rbee-worker-shim", runAs is null ? null : DropTo(runAs));
        // Secrets stay with the hive. Its other RBEE_ settings may pass: a worker reads only its own section and the
        // launch contract's variables set below.
        ChildEnvironment.RemoveSecrets(psi.Environment);
        psi.Environment[WorkerEnvironment.WorkerId] = worker.WorkerId;
        psi.Environment[WorkerEnvironment.Model] = spec.ModelPath;
        psi.Environment[WorkerEnvironment.ModelId] = spec.ModelId;
        if (spec.StartedBy is not null) psi.Environment[WorkerEnvironment.StartedBy] = spec.StartedBy;
        psi.Environment[WorkerEnvironment.Device] = spec.Device;
        psi.Environment[WorkerEnvironment.Restart] = spec.RestartOnFailure ? RestartPolicies.OnFailure : RestartPolicies.No;
        if (runAs is not null)
        {
            // Its own directory as HOME: engines write caches there, never in root's home.
            psi.Environment["HOME"] = worker.ReadyDirectory;
            psi.Environment["USER"] = psi.Environment["LOGNAME"] = runAs.Name;
        }
        if (apiKey is not null && spec.Type.Options.ApiKeyVariable is { Length: > 0 } variable && variable != WorkerOptions.NoApiKey)
            psi.Environment[variable] = apiKey;
        if (spec.Device.StartsWith("cuda:", StringComparison.Ordinal)) psi.Environment["CUDA_VISIBLE_DEVICES"] = spec.Device[5..];
        else if (spec.Device == "cpu") psi.Environment["CUDA_VISIBLE_DEVICES"] = "";
        return psi;
    }

    /// <summary><c>setpriv</c> on PATH, else <c>/usr/bin/setpriv</c> (util-linux, on every Debian), else null.</summary>
    public static string? Setpriv { get; } = ExecutableSearch.OnPath("setpriv") ?? (File.Exists("/usr/bin/setpriv") ? "/usr/bin/setpriv" : null);

    /// <summary>
    /// The command that drops root for the worker: its uid and gid, no supplementary groups (root's stay behind), and
    /// no_new_privs so no setuid program it runs can climb back.
    /// </summary>
    public static string[] DropTo(WorkerUser user) =>
    [
        Setpriv ?? throw new WorkerOperationException($"setpriv (util-linux) is needed to run workers as {user}; install util-linux or set Workers:User"),
        $"--reuid={user.Uid}", $"--regid={user.Gid}", "--clear-groups", "--no-new-privs",
    ];

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
