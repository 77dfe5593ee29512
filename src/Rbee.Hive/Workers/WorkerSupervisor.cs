using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rbee.Contracts.Wire;
using Rbee.Hive.Monitoring;
using Rbee.Platform.Processes;

namespace Rbee.Hive.Workers;

/// <summary>What a spawn asks for, already validated (type installed, model file present, device exists).</summary>
public sealed record SpawnSpec(WorkerType Type, string ModelPath, string Device, bool RestartOnFailure)
{
    /// <summary>The id the worker answers to: the catalog's id of the file, else its name without extension.</summary>
    public string ModelId { get; init; } = Rbee.Models.ModelFiles.IdOf(ModelPath);

    /// <summary><see cref="WorkerOrigins.Queen"/> or null.</summary>
    public string? StartedBy { get; init; }
}

/// <summary>A spawn or stop that failed for a reason an operator can act on (it becomes the job's [ERROR] line).</summary>
public sealed class WorkerOperationException(string message) : Exception(message);

/// <summary>
/// Starts and stops workers (DESIGN.md "Workers under the hive", Spawn, Stop, Restart of a worker). Which workers
/// exist is the monitor's business (the cgroup tree); this class only changes it.
/// </summary>
public sealed partial class WorkerSupervisor
{
    private readonly WorkerOptions _options;
    private readonly WorkerMonitor _monitor;
    private readonly PortAllocator _ports;
    private readonly ILogger<WorkerSupervisor> _logger;
    private readonly SemaphoreSlim _spawnGate = new(1, 1);
    // Cancelled when the hive stops its workers: an on_failure restart still in its backoff must not bring a worker
    // back after the stop has emptied the tree (and outlive the hive).
    private readonly CancellationTokenSource _restarts = new();

    public WorkerSupervisor(IOptions<WorkerOptions> options, WorkerMonitor monitor, PortAllocator ports, ILogger<WorkerSupervisor> logger)
    {
        _options = options.Value;
        _monitor = monitor;
        _ports = ports;
        _logger = logger;
        _monitor.Exited += OnExited;
    }

    /// <summary>Starts a worker on the lowest free port of its type; returns once its process runs in its cgroup.</summary>
    public async Task<WorkerEntry> StartAsync(SpawnSpec spec, CancellationToken ct)
    {
        // One spawn at a time picks a port: cheap, and keeps "lowest free" meaningful under concurrent jobs.
        await _spawnGate.WaitAsync(ct).ConfigureAwait(false);
        PortLease? lease = null;
        try
        {
            var t = spec.Type.Options;
            lease = _ports.Acquire(t.BasePort, t.PortCount)
                ?? throw new WorkerOperationException($"no free port for {spec.Type.Name} in {t.BasePort}-{t.BasePort + t.PortCount - 1} (each is taken or locked by another hive)");
            var entry = Launch(spec, lease, attempt: 0);
            lease = null;
            return entry;
        }
        finally
        {
            lease?.Dispose();
            _spawnGate.Release();
        }
    }

    private WorkerEntry Launch(SpawnSpec spec, PortLease lease, int attempt)
    {
        var name = new WorkerCgroupName(spec.Type.Name, lease.Port);
        var cgroup = _monitor.Tree?.PathOf(name);
        var entry = new WorkerEntry(name, cgroup, _monitor.WorkerDirectoryOf(name), spec.Type)
        {
            Lease = lease,
            Model = spec.ModelPath,
            ModelId = spec.ModelId,
            StartedBy = spec.StartedBy,
            Device = spec.Device,
            WorkerId = $"{spec.Type.Name}-{lease.Port}-{Guid.NewGuid().ToString("N")[..8]}",
            RestartOnFailure = spec.RestartOnFailure,
            RestartAttempt = attempt,
        };
        _monitor.Reserve(entry);
        try
        {
            _monitor.Tree?.Create(name, _options.CpuMax, _options.MemoryMax);
            Directory.CreateDirectory(entry.WorkerDirectory);
            File.Delete(entry.ReadyFile);
            File.AppendAllText(entry.LogPath, $"--- rbee-hive starts {spec.Type.Name} worker on port {lease.Port} at {DateTimeOffset.UtcNow:O} ---\n");
            _monitor.Register(entry); // watches armed before the process exists: no ready or exit event is missed
            var process = Process.Start(StartInfo(spec, entry))
                ?? throw new WorkerOperationException($"could not start {spec.Type.ProgramPath}");
            entry.Child = process;
            entry.MainPid = process.Id;
            process.EnableRaisingEvents = true;
            process.Exited += (_, _) => _monitor.Kick();
            if (process.HasExited) _monitor.Kick();
            Log.Started(_logger, entry.Key, process.Id, spec.ModelPath, spec.ModelId, cgroup ?? "(process group)", entry.LogPath);
            _monitor.Kick();
            return entry;
        }
        catch
        {
            // Nothing half-started is left: no process, no cgroup, no tracked entry; the caller disposes the lease.
            entry.Lease = null;
            entry.StopRequested = true;
            if (entry.Child is not null) _ = ForgetAsync(entry);
            else _monitor.Forget(entry);
            throw;
        }
    }

    private async Task ForgetAsync(WorkerEntry entry)
    {
        if (entry.CgroupPath is not null) CgroupTree.Kill(entry.CgroupPath);
        entry.StopRequested = true;
        _monitor.Kick();
        await Task.WhenAny(entry.GoneSignal.Task, Task.Delay(_options.KillBound)).ConfigureAwait(false);
    }

    private ProcessStartInfo StartInfo(SpawnSpec spec, WorkerEntry entry)
    {
        var host = _options.Host;
        var args = ArgumentTemplate.Expand(spec.Type.Options.Arguments,
            new LaunchValues(spec.ModelPath, entry.Port, host, spec.Device, entry.WorkerId!, entry.ReadyFile, spec.ModelId));
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = entry.WorkerDirectory };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(DetachedProcess.Shim);
        psi.ArgumentList.Add("rbee-worker-shim");
        psi.ArgumentList.Add(entry.CgroupPath is null ? "-" : Path.Combine(entry.CgroupPath, "cgroup.procs"));
        psi.ArgumentList.Add(entry.LogPath);
        if (DetachedProcess.Setsid is not null) psi.ArgumentList.Add(DetachedProcess.Setsid);
        psi.ArgumentList.Add(spec.Type.ProgramPath!);
        foreach (var a in args) psi.ArgumentList.Add(a);
        // The hive's own RBEE_ settings are not the worker's: a worker binds its options from the same prefix.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("RBEE_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(key);
        psi.Environment[WorkerEnvironment.WorkerId] = entry.WorkerId;
        psi.Environment[WorkerEnvironment.Model] = spec.ModelPath;
        psi.Environment[WorkerEnvironment.ModelId] = spec.ModelId;
        if (spec.StartedBy is not null) psi.Environment[WorkerEnvironment.StartedBy] = spec.StartedBy;
        psi.Environment[WorkerEnvironment.Device] = spec.Device;
        psi.Environment[WorkerEnvironment.Restart] = spec.RestartOnFailure ? RestartPolicies.OnFailure : RestartPolicies.No;
        if (spec.Device.StartsWith("cuda:", StringComparison.Ordinal)) psi.Environment["CUDA_VISIBLE_DEVICES"] = spec.Device[5..];
        else if (spec.Device == "cpu") psi.Environment["CUDA_VISIBLE_DEVICES"] = "";
        return psi;
    }

    /// <summary>
    /// Waits for the worker's ready event (ready file or health, seen by the monitor), its exit, or its load timeout.
    /// A worker that exits or times out is removed (killed, cgroup gone, port freed) and the reason names the tail of
    /// its log.
    /// </summary>
    public async Task AwaitReadyAsync(WorkerEntry entry, CancellationToken ct)
    {
        var timeout = entry.Type?.Options.LoadTimeout ?? TimeSpan.FromMinutes(5);
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timer.CancelAfter(timeout);
        var timeoutTask = Task.Delay(Timeout.Infinite, timer.Token);
        var first = await Task.WhenAny(entry.ReadySignal.Task, entry.GoneSignal.Task, timeoutTask).ConfigureAwait(false);
        if (first == entry.ReadySignal.Task) return;
        if (first == entry.GoneSignal.Task)
            throw new WorkerOperationException($"worker {entry.Key} exited before it was ready (exit code {ExitCode(entry)}); last lines of {entry.LogPath}: {LogTail(entry.LogPath)}");
        ct.ThrowIfCancellationRequested(); // the job was cancelled: the caller stops the worker
        Log.LoadTimeout(_logger, entry.Key, timeout);
        await StopAsync(entry, TimeSpan.Zero, CancellationToken.None).ConfigureAwait(false);
        throw new WorkerOperationException($"worker {entry.Key} was not ready within its load timeout of {timeout.TotalSeconds:0.#} s and was killed; last lines of {entry.LogPath}: {LogTail(entry.LogPath)}");
    }

    private static string ExitCode(WorkerEntry entry)
    {
        try { return entry.Child is { HasExited: true } c ? c.ExitCode.ToString(CultureInfo.InvariantCulture) : "unknown"; }
        catch (InvalidOperationException) { return "unknown"; }
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

    /// <summary>
    /// SIGTERM, <paramref name="grace"/> (default <see cref="WorkerOptions.StopGrace"/>), then <c>cgroup.kill</c>;
    /// returns once the cgroup is seen empty and removed and the port is free (DESIGN.md "Stop").
    /// </summary>
    public async Task StopAsync(WorkerEntry entry, TimeSpan? grace, CancellationToken ct)
    {
        entry.StopRequested = true;
        entry.RestartOnFailure = false;
        _monitor.Kick();
        var g = grace ?? _options.StopGrace;
        if (g > TimeSpan.Zero)
        {
            foreach (var pid in PidsOf(entry)) Libc.Signal(pid, Libc.SIGTERM);
            if (await WaitGoneAsync(entry, g, ct).ConfigureAwait(false)) return;
            Log.GraceExpired(_logger, entry.Key, g);
        }
        if (entry.CgroupPath is not null) CgroupTree.Kill(entry.CgroupPath);
        else if (entry.MainPid is { } leader) Libc.Signal(-leader, Libc.SIGKILL);
        if (!await WaitGoneAsync(entry, _options.KillBound, ct).ConfigureAwait(false))
            throw new WorkerOperationException($"worker {entry.Key} still has processes {string.Join(",", PidsOf(entry))} {_options.KillBound.TotalSeconds:0.#} s after SIGKILL");
    }

    private async Task<bool> WaitGoneAsync(WorkerEntry entry, TimeSpan bound, CancellationToken ct)
    {
        _monitor.Kick();
        var done = await Task.WhenAny(entry.GoneSignal.Task, Task.Delay(bound, ct)).ConfigureAwait(false);
        return done == entry.GoneSignal.Task;
    }

    private static List<int> PidsOf(WorkerEntry entry)
    {
        if (entry.CgroupPath is not null) return CgroupTree.Pids(entry.CgroupPath);
        return entry.MainPid is { } p && Libc.IsAlive(p) ? [p] : [];
    }

    /// <summary>Stops every worker of this hive in parallel and checks that no process is left in its tree.</summary>
    public async Task<int> StopAllAsync(CancellationToken ct)
    {
        CancelRestarts();
        var entries = _monitor.Entries.ToList();
        var results = await Task.WhenAll(entries.Select(async e =>
        {
            try
            {
                await StopAsync(e, null, ct).ConfigureAwait(false);
                return true;
            }
            catch (WorkerOperationException ex)
            {
                Log.StopFailed(_logger, e.Key, ex.Message);
                return false;
            }
        })).ConfigureAwait(false);
        var left = _monitor.Tree?.AllPids() ?? [];
        if (left.Count > 0)
        {
            // A process that slipped in (a worker that forked during the stop): the whole tree goes.
            foreach (var e in _monitor.Entries) if (e.CgroupPath is not null) CgroupTree.Kill(e.CgroupPath);
            await _monitor.ScanAsync(ct).ConfigureAwait(false);
            left = _monitor.Tree?.AllPids() ?? [];
        }
        _monitor.Tree?.Prune(includeRoot: left.Count == 0);
        Log.StoppedAll(_logger, results.Count(r => r), left.Count);
        if (left.Count > 0) throw new WorkerOperationException($"processes {string.Join(",", left)} are still in {_monitor.Tree?.RootPath}");
        return results.Count(r => r);
    }

    /// <summary>Drops every pending on_failure restart, and any that a later exit would schedule.</summary>
    public void CancelRestarts()
    {
        try { _restarts.Cancel(); }
        catch (ObjectDisposedException) { }
    }

    private void OnExited(WorkerEntry entry)
    {
        if (_restarts.IsCancellationRequested || entry.StopRequested || !entry.RestartOnFailure || entry.Type is not { Available: true } type || entry.RestartAttempt >= _options.RestartMaxAttempts)
        {
            entry.Lease?.Dispose();
            return;
        }
        // on_failure: the port stays locked for the worker while it waits to come back on it (seed 000, edge case 3).
        var attempt = entry.RestartAttempt + 1;
        var delay = TimeSpan.FromTicks(_options.RestartBackoff.Ticks * (1L << Math.Min(attempt - 1, 10)));
        Log.Restarting(_logger, entry.Key, attempt, _options.RestartMaxAttempts, delay);
        var lease = entry.Lease!;
        entry.Lease = null;
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(delay, _restarts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                lease.Dispose();
                return;
            }
            try
            {
                var model = entry.Model ?? "";
                Launch(new SpawnSpec(type, model, entry.Device ?? "cpu", RestartOnFailure: true)
                {
                    ModelId = entry.ModelId ?? Rbee.Models.ModelFiles.IdOf(model),
                    StartedBy = entry.StartedBy,
                }, lease, attempt);
            }
            catch (Exception e)
            {
                Log.RestartFailed(_logger, entry.Key, e.Message);
                lease.Dispose();
            }
        });
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = WorkerEventIds.Started, Level = LogLevel.Information, Message = "Started worker {Worker} pid {Pid} model {Model} as {ModelId} in {Cgroup}, log {LogPath}")]
        public static partial void Started(ILogger logger, string worker, int pid, string model, string modelId, string cgroup, string logPath);

        [LoggerMessage(EventId = WorkerEventIds.LoadTimeout, Level = LogLevel.Warning, Message = "Worker {Worker} not ready within {Timeout}; killing it")]
        public static partial void LoadTimeout(ILogger logger, string worker, TimeSpan timeout);

        [LoggerMessage(EventId = WorkerEventIds.GraceExpired, Level = LogLevel.Warning, Message = "Worker {Worker} still running {Grace} after SIGTERM; killing its cgroup")]
        public static partial void GraceExpired(ILogger logger, string worker, TimeSpan grace);

        [LoggerMessage(EventId = WorkerEventIds.StopFailed, Level = LogLevel.Error, Message = "Could not stop worker {Worker}: {Reason}")]
        public static partial void StopFailed(ILogger logger, string worker, string reason);

        [LoggerMessage(EventId = WorkerEventIds.StoppedAll, Level = LogLevel.Information, Message = "Stopped {Count} workers; processes left in the tree: {Left}")]
        public static partial void StoppedAll(ILogger logger, int count, int left);

        [LoggerMessage(EventId = WorkerEventIds.Restarting, Level = LogLevel.Warning, Message = "Worker {Worker} failed; restart {Attempt} of {Max} in {Delay}")]
        public static partial void Restarting(ILogger logger, string worker, int attempt, int max, TimeSpan delay);

        [LoggerMessage(EventId = WorkerEventIds.RestartFailed, Level = LogLevel.Error, Message = "Could not restart worker {Worker}: {Reason}")]
        public static partial void RestartFailed(ILogger logger, string worker, string reason);
    }
}
