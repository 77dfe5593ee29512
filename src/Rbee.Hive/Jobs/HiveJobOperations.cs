using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hive.Models;
using Rbee.Hive.Monitoring;
using Rbee.Hive.Workers;
using Rbee.Hosting.Jobs;

namespace Rbee.Hive.Jobs;

/// <summary>
/// The hive's job operations (DESIGN.md "Jobs"): <c>worker_spawn</c>, <c>worker_list</c>, <c>worker_stop</c>,
/// <c>hive_check</c>, and the model jobs of <see cref="ModelJobOperations"/>. Everything that can be checked before anything is started (type known and installed, model file
/// present, device present, fields well-formed) is checked in <see cref="Plan"/>, so a bad request is a 400 and leaves
/// nothing behind.
/// </summary>
public sealed class HiveJobOperations(
    WorkerCatalog catalog,
    WorkerMonitor monitor,
    WorkerSupervisor supervisor,
    PortAllocator ports,
    IOptions<WorkerOptions> options,
    HiveModelCatalog models,
    ModelJobOperations modelJobs,
    SpawnAdmission admission,
    HiveMetrics metrics,
    TimeProvider time) : IJobOperations
{
    public JobPlan Plan(string operation, JsonElement request) => operation switch
    {
        JobOperations.WorkerSpawn => PlanSpawn(request),
        JobOperations.WorkerList => JobPlan.Run(ListAsync),
        JobOperations.WorkerStop => PlanStop(request),
        JobOperations.HiveCheck => JobPlan.Run(CheckAsync),
        JobOperations.ModelDownload => modelJobs.PlanDownload(request),
        JobOperations.ModelList => modelJobs.PlanList(),
        JobOperations.ModelDelete => modelJobs.PlanDelete(request),
        _ => JobPlan.UnknownOperation(operation),
    };

    private JobPlan PlanSpawn(JsonElement request)
    {
        var model = JobFields.String(request, "model", out var e1);
        if (e1 is not null) return JobPlan.Invalid(e1, "model");
        if (string.IsNullOrWhiteSpace(model)) return JobPlan.Invalid("'model' is required: a model id of the hive's catalog, a GGUF path on the hive or a file name in its models directory", "model", "missing_field");
        var typeName = JobFields.String(request, "worker_type", out var e2) ?? "llm";
        if (e2 is not null) return JobPlan.Invalid(e2, "worker_type");
        var device = JobFields.String(request, "device", out var e3) ?? "cpu";
        if (e3 is not null) return JobPlan.Invalid(e3, "device");
        var restart = JobFields.String(request, "restart", out var e4) ?? RestartPolicies.No;
        if (e4 is not null) return JobPlan.Invalid(e4, "restart");
        if (restart is not (RestartPolicies.No or RestartPolicies.OnFailure))
            return JobPlan.Invalid($"'restart' must be \"{RestartPolicies.No}\" or \"{RestartPolicies.OnFailure}\"", "restart");
        var startedBy = JobFields.String(request, "started_by", out var e5);
        if (e5 is not null) return JobPlan.Invalid(e5, "started_by");
        // Only the queen's scheduler marks its workers (subject to its idle timeout); a person's spawn leaves it out.
        if (startedBy is not (null or WorkerOrigins.Queen))
            return JobPlan.Invalid($"'started_by' must be \"{WorkerOrigins.Queen}\" or absent", "started_by");

        if (!catalog.TryGet(typeName, out var type))
            return JobPlan.Invalid($"unknown worker type '{typeName}'; this hive knows: {string.Join(", ", catalog.Types.Select(t => t.Name).Order(StringComparer.Ordinal))}", "worker_type", "unknown_worker_type");
        if (!type.Available)
            return JobPlan.Invalid($"worker type '{typeName}' is not installed on this hive: {type.UnavailableReason}", "worker_type", "worker_type_unavailable");
        if (ResolveModel(model, out var why) is not { } modelPath)
            return JobPlan.Invalid(why!, "model", "model_not_found");
        if (DeviceProblem(device, type) is { } bad)
            return JobPlan.Invalid(bad, "device", "device_not_found");
        if (monitor.RunAs is { } user)
        {
            // The worker runs as this user: refuse now what it could not open, never change the operator's permissions.
            if (UnixAccess.Blocker(ModelPathConfinement.RealPath(modelPath) ?? modelPath, user) is { } blocked)
                return JobPlan.Invalid($"workers run as {user}, who cannot read the model {modelPath}: {blocked} is in the way; " +
                    "make it readable by that user or set Workers:User", "model", "model_not_readable");
            if (type.ProgramPath is { } program && UnixAccess.Blocker(ModelPathConfinement.RealPath(program) ?? program, user, execute: true) is { } noRun)
                return JobPlan.Invalid($"workers run as {user}, who cannot run {program}: {noRun} is in the way; " +
                    "install it where every user can run it or set Workers:User", "worker_type", "worker_type_unavailable");
        }

        var spec = new SpawnSpec(type, modelPath, device, restart == RestartPolicies.OnFailure)
        {
            // The id asked for when it is a catalog id: one file may be listed under several (two Ollama names of one blob).
            ModelId = models.Snapshot.TryGet(model, out var asked) && asked.Path == modelPath ? asked.Id : models.ModelIdOf(modelPath),
            StartedBy = startedBy,
        };
        return JobPlan.Run((job, ct) => SpawnAsync(job, spec, ct));
    }

    /// <summary>
    /// A model id of the catalog first, wherever its file lives (an Ollama name such as <c>hf.co/org/repo:Q4_K_M</c> holds
    /// '/' and ':', so an id is not told from a path by its characters). Else a path (absolute, or with a '/' and then taken
    /// from the models directory, never from the hive's working directory) that, symlinks resolved, is a file under the
    /// directories the hive serves models from (<see cref="HiveModelCatalog.Confinement"/>, DESIGN.md "Security"), or a GGUF
    /// file the workers' unprivileged user may read (<see cref="OpenToTheWorkerUser"/>). Else a
    /// bare name is a file in the models directory, with or without <c>.gguf</c> (one the catalog has not listed yet).
    /// The refusal names what was asked, never anything read from a file.
    /// </summary>
    public string? ResolveModel(string model, out string? why)
    {
        why = null;
        // The catalog may lag a deletion by its debounce: a listed file that is gone falls through to the clear refusal.
        if (models.Snapshot.TryGet(model, out var listed) && File.Exists(listed.Path)) return listed.Path;
        if (model.EndsWith(".part", StringComparison.OrdinalIgnoreCase))
        {
            why = $"'{model}' is a download in progress or an interrupted one, not a model; finish it with model_download";
            return null;
        }
        var dir = models.ModelsDirectory;
        if (model.Contains('/', StringComparison.Ordinal))
        {
            var full = Path.GetFullPath(Path.IsPathRooted(model) ? model : Path.Combine(dir, model));
            if (models.Confinement.Allows(full)) return full;
            if (OpenToTheWorkerUser(full)) return full;
            // One answer for "missing" and "outside": the refusal says nothing about files outside the model directories.
            why = $"'{model}' is neither a model id of this hive's catalog nor a model file under the directories it serves " +
                  $"models from ({string.Join(", ", models.Confinement.Roots)})" +
                  (monitor.RunAs is { } user ? $" nor a GGUF file that {user}, whom its workers run as, may read" : "") +
                  "; a hive starts workers only on those";
            return null;
        }
        // Only model file names: never a hidden file or anything but *.gguf, and never a symlink out of the directory.
        foreach (var name in new[] { model, model + ".gguf" })
            if (HiveModelCatalog.IsModelFileName(name) && Path.Combine(dir, name) is var candidate && File.Exists(candidate) && models.Confinement.Allows(candidate))
                return candidate;
        why = $"no model '{model}' in this hive's catalog or in {dir} (looked for {model} and {model}.gguf); give a path or download it first";
        return null;
    }

    /// <summary>
    /// A GGUF file outside the model directories that the unprivileged user workers run as could read on its own
    /// (DESIGN.md "Security", <c>docs/security.md</c>): a spawn then makes no one read anything they could not read
    /// already. Only when workers run as another user than the hive (a root hive's default); the hive reads the file's
    /// magic only after the mode bits said that user may, and only of a regular file.
    /// </summary>
    private bool OpenToTheWorkerUser(string full)
    {
        if (monitor.RunAs is not { } user || ModelPathConfinement.RealPath(full) is not { } real) return false;
        if (!UnixAccess.IsRegularFile(real) || UnixAccess.Blocker(real, user) is not null) return false;
        try
        {
            using var file = new FileStream(real, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
            Span<byte> magic = stackalloc byte[4];
            return file.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("GGUF"u8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>"cpu" always exists; "cuda:N" exists when <c>/dev/nvidiaN</c> does and the type can use CUDA.</summary>
    public static string? DeviceProblem(string device, WorkerType type)
    {
        string kind;
        if (device == "cpu") kind = "cpu";
        else if (device.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(device.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            if (!File.Exists($"/dev/nvidia{n}")) return $"device '{device}' does not exist on this hive (no /dev/nvidia{n}); see the hive's capabilities for its devices";
            kind = "cuda";
        }
        else return $"device '{device}' is not a device name; use \"cpu\" or \"cuda:N\"";
        if (!type.Options.DeviceKinds.Contains(kind))
            return $"worker type '{type.Name}' cannot run on {kind} (it runs on: {string.Join(", ", type.Options.DeviceKinds)})";
        return null;
    }

    private async Task SpawnAsync(Job job, SpawnSpec spec, CancellationToken ct)
    {
        job.Narrate($"spawning {spec.Type.Name} worker for {spec.ModelPath} as {spec.ModelId} on {spec.Device}");
        // A slot among the spawns loading at once, and room on the device, held until the worker is ready or failed.
        IDisposable slot;
        try { slot = await admission.EnterAsync(spec.Device, models.Snapshot.AtPath(spec.ModelPath), spec.Type.Name, job.Narrate, ct).ConfigureAwait(false); }
        catch (WorkerOperationException e) { throw new JobFailedException(e.Message); }
        var started = time.GetTimestamp();
        var outcome = "failed";
        try
        {
            using (slot) await StartAndAwaitReadyAsync(job, spec, ct).ConfigureAwait(false);
            outcome = "ready";
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            outcome = "cancelled";
            throw;
        }
        finally
        {
            metrics.SpawnEnded(spec.Type.Name, outcome, time.GetElapsedTime(started));
        }
    }

    private async Task StartAndAwaitReadyAsync(Job job, SpawnSpec spec, CancellationToken ct)
    {
        WorkerRecord entry;
        try { entry = await supervisor.StartAsync(spec, ct).ConfigureAwait(false); }
        catch (WorkerOperationException e) { throw new JobFailedException(e.Message); }
        job.Narrate($"port {entry.Port}, pid {entry.MainPid}, cgroup {entry.CgroupPath ?? "(process group)"}, log {entry.LogPath}");
        job.Data(Describe<WorkerSpawned>(entry));
        job.Narrate($"waiting for {entry.Key} to load its model (timeout {entry.Type!.Options.LoadTimeout.TotalSeconds:0.#} s)");
        try
        {
            entry = await supervisor.AwaitReadyAsync(entry, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            job.Narrate($"cancelled: stopping {entry.Key}");
            await supervisor.StopAsync(entry, TimeSpan.Zero, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        catch (WorkerOperationException e)
        {
            throw new JobFailedException(e.Message);
        }
        job.Narrate($"worker {entry.Key} is ready at http://{options.Value.Host}:{entry.Port}");
        job.Data(Describe<WorkerReady>(entry));
    }

    private static T Describe<T>(WorkerRecord e) where T : WorkerJobEvent, new() => new()
    {
        WorkerType = e.Name.WorkerType,
        Port = e.Port,
        Pid = e.MainPid,
        WorkerId = e.WorkerId,
        Model = e.Model,
        ModelId = e.ModelId,
        StartedBy = e.StartedBy,
        Device = e.Device,
        Cgroup = e.CgroupPath,
        LogPath = e.LogPath,
    };

    private Task ListAsync(Job job, CancellationToken ct)
    {
        var workers = monitor.Snapshot.Workers.Where(w => w.Stats is not null).ToList();
        job.Narrate(workers.Count == 0 ? "no workers" : $"{workers.Count} worker(s):");
        foreach (var worker in workers)
        {
            var w = worker.Stats!;
            job.Narrate($"{w.Group}/{w.Instance} pid {w.Pid} {w.State} model {w.ModelId ?? "?"} ({w.Model ?? "?"}) cpu {Num(w.CpuPct)}% rss {Num(w.RssMb)} MB log {worker.LogPath}");
            // The telemetry figures plus what only the hive keeps (every pid of the cgroup, the log file).
            var data = JsonSerializer.SerializeToNode(w, RbeeJsonContext.Default.ProcessStats)!.AsObject();
            data["pids"] = new JsonArray([.. worker.Pids.Select(p => (JsonNode?)p)]);
            data["log_path"] = worker.LogPath;
            job.Data(data.ToJsonString());
        }
        return Task.CompletedTask;
    }

    private JobPlan PlanStop(JsonElement request)
    {
        var port = JobFields.Int(request, "port", out var e1);
        if (e1 is not null) return JobPlan.Invalid(e1, "port");
        var pid = JobFields.Int(request, "pid", out var e2);
        if (e2 is not null) return JobPlan.Invalid(e2, "pid");
        if (port is null == pid is null) return JobPlan.Invalid("give exactly one of 'port' or 'pid'", port is null ? "port" : "pid", "missing_field");
        // A value no worker can have is malformed, not "not found later": 400 now (DESIGN.md "Jobs").
        if (port is < 1 or > 65535) return JobPlan.Invalid($"'port' must be 1-65535, not {port}", "port");
        if (pid is < 1) return JobPlan.Invalid($"'pid' must be a positive process id, not {pid}", "pid");
        return JobPlan.Run(async (job, ct) =>
        {
            var entry = port is { } p ? monitor.Snapshot.FindByPort(p) : monitor.Snapshot.FindByPid(pid!.Value);
            // A worker in its on_failure restart backoff is in no view; the stop cancels the restart that would bring it back.
            if (entry is null && port is { } backoff && await supervisor.CancelRestartAsync(backoff).ConfigureAwait(false) is { } type)
            {
                job.Narrate($"{type}/{backoff} was waiting for its on_failure restart; cancelled it, port {backoff} free");
                job.Data(new WorkerStopped { WorkerType = type, Port = backoff });
                return;
            }
            if (entry is null)
                throw new JobFailedException(port is not null ? $"no worker of this hive on port {port}" : $"no worker of this hive has pid {pid}");
            job.Narrate($"stopping {entry.Key} (pid {entry.MainPid}): SIGTERM, {options.Value.StopGrace.TotalSeconds:0.#} s grace, then cgroup.kill");
            try { await supervisor.StopAsync(entry, null, ct).ConfigureAwait(false); }
            catch (WorkerOperationException e) { throw new JobFailedException(e.Message); }
            job.Narrate($"stopped {entry.Key}; cgroup removed, port {entry.Port} free");
            job.Data(Describe<WorkerStopped>(entry));
        });
    }

    private Task CheckAsync(Job job, CancellationToken ct)
    {
        var o = options.Value;
        var mode = monitor.Mode;
        job.Narrate(mode.Mode == MonitoringInfo.CgroupV2
            ? $"monitoring: cgroup_v2, root {mode.Root}, {monitor.InotifyWatches} inotify watches on one instance"
            : $"monitoring: process_groups ({mode.Reason})");
        job.Narrate($"port locks: {ports.LockDirectory}; state: {o.ResolvedStateDirectory}; models: {models.ModelsDirectory} ({models.Snapshot.Models.Count} listed, catalog version {models.Version})");
        foreach (var t in catalog.Types.OrderBy(t => t.Name, StringComparer.Ordinal))
            job.Narrate(t.Available
                ? $"worker type {t.Name}: available ({t.ProgramPath}), ports from {t.Options.BasePort}, readiness {t.Options.Readiness}"
                : $"worker type {t.Name}: unavailable: {t.UnavailableReason}");
        job.Narrate($"workers running: {monitor.Current.Count}");
        job.Data(new HiveChecked(mode.Mode, mode.Root, mode.Reason, monitor.InotifyWatches, monitor.Current.Count, catalog.Describe()));
        return Task.CompletedTask;
    }

    private static string Num(double? v) => v is { } d ? d.ToString("0.#", CultureInfo.InvariantCulture) : "n/a";

    private static string Num(long? v) => v is { } d ? d.ToString(CultureInfo.InvariantCulture) : "n/a";
}
