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
    public static ProcessStartInfo StartInfo(SpawnSpec spec, WorkerRecord worker, string host, string? apiKey = null)
    {
        var args = ArgumentTemplate.Expand(spec.Type.Options.Arguments,
            new LaunchValues(spec.ModelPath, worker.Port, host, spec.Device, worker.WorkerId!, worker.ReadyFile, spec.ModelId));
        // The shim enters the worker's cgroup before the worker runs any code, points its output at the log file (never
        // a pipe into the hive, so the worker outlives it) and execs it through setsid (a signal to the hive's process
        // group does not reach it).
        var psi = DetachedProcess.StartInfo(spec.Type.ProgramPath!, args, worker.LogPath,
            worker.CgroupPath is null ? null : Path.Combine(worker.CgroupPath, "cgroup.procs"), worker.WorkerDirectory, "rbee-worker-shim");
        // Secrets stay with the hive. Its other RBEE_ settings may pass: a worker reads only its own section and the
        // launch contract's variables set below.
        ChildEnvironment.RemoveSecrets(psi.Environment);
        psi.Environment[WorkerEnvironment.WorkerId] = worker.WorkerId;
        psi.Environment[WorkerEnvironment.Model] = spec.ModelPath;
        psi.Environment[WorkerEnvironment.ModelId] = spec.ModelId;
        if (spec.StartedBy is not null) psi.Environment[WorkerEnvironment.StartedBy] = spec.StartedBy;
        psi.Environment[WorkerEnvironment.Device] = spec.Device;
        psi.Environment[WorkerEnvironment.Restart] = spec.RestartOnFailure ? RestartPolicies.OnFailure : RestartPolicies.No;
        if (apiKey is not null) psi.Environment[Rbee.Platform.Security.WorkerApiKey.EnvironmentVariable] = apiKey;
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
