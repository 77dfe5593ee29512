using Rbee.Hive.Workers;

namespace Rbee.Hive.Monitoring;

/// <summary>What a restarted hive reads back about a running worker from the OS (DESIGN.md "Workers under the hive",
/// Restart of the hive): no registry of its own, only the command line and the environment.</summary>
public sealed record AdoptedWorker(string? Model, string? ModelId, string? StartedBy, string? WorkerId, string? Device, bool RestartOnFailure)
{
    public static AdoptedWorker Read(int pid)
    {
        var args = ProcFiles.TryRead($"/proc/{pid}/cmdline") is { } c ? ProcFiles.Cmdline(c) : [];
        var env = ProcFiles.TryRead($"/proc/{pid}/environ") ?? "";
        return Parse(args, env);
    }

    public static AdoptedWorker Parse(IReadOnlyList<string> args, string environ)
    {
        var (model, id, startedBy) = ModelOf(args, environ);
        return new AdoptedWorker(model, id, startedBy,
            ProcFiles.Flag(args, "--worker-id") ?? ProcFiles.Environ(environ, WorkerEnvironment.WorkerId),
            ProcFiles.Environ(environ, WorkerEnvironment.Device),
            ProcFiles.Environ(environ, WorkerEnvironment.Restart) == RestartPolicies.OnFailure);
    }

    /// <summary>
    /// What a running worker serves: the model file, the id it answers to (as the hive passed it: llm-worker-rbee,
    /// llama-server and vllm spell the flag differently; else the environment; else what the worker would have chosen
    /// itself, the file name without extension), and who started it.
    /// </summary>
    public static (string? Model, string? ModelId, string? StartedBy) ModelOf(IReadOnlyList<string> args, string environ)
    {
        var model = ProcFiles.Flag(args, "--model", "-m") ?? ProcFiles.Environ(environ, WorkerEnvironment.Model);
        var id = ProcFiles.Flag(args, "--model-id", "--alias", "--served-model-name") ?? ProcFiles.Environ(environ, WorkerEnvironment.ModelId)
            ?? (model is null ? null : Rbee.Models.ModelFiles.IdOf(model));
        return (model, id, ProcFiles.Environ(environ, WorkerEnvironment.StartedBy));
    }
}
