using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rbee.Contracts.Wire;
using Rbee.Hive.Devices;
using Rbee.Hive.Workers;

namespace Rbee.Hive.Monitoring;

/// <summary>
/// The hive's view of its workers, taken from the OS (DESIGN.md "Workers under the hive", Monitor): every
/// <see cref="WorkerOptions.ScanInterval"/> it enumerates <c>&lt;root&gt;/*/*</c> and reads pids, CPU, RSS, IO, uptime;
/// between scans one inotify instance watches each worker's <c>cgroup.events</c> (an emptied cgroup is gone at once)
/// and each worker's directory (a ready file is seen at once), and a child's exit wakes it too. Each of those triggers
/// an immediate scan; a change of the worker set or of a state raises <see cref="Changed"/>.
/// </summary>
public sealed partial class WorkerMonitor : IWorkerView, IDisposable
{
    private readonly WorkerOptions _options;
    private readonly WorkerCatalog _catalog;
    private readonly PortAllocator _ports;
    private readonly ILogger<WorkerMonitor> _logger;
    private readonly ConcurrentDictionary<string, WorkerEntry> _entries = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _kick = new(0, 1);
    private readonly SemaphoreSlim _scanGate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly GpuProcessProbe _gpu;
    // Health probes go to the hive's own workers: never through an HTTP_PROXY meant for the internet, and never with
    // the cluster token (an external engine is not a daemon of the cluster), so not through ClusterHttp either.
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false })
    {
        Timeout = TimeSpan.FromSeconds(2),
    };
    private volatile IReadOnlyList<ProcessStats> _current = [];
    // The hive's one inotify instance (DESIGN.md "Workers under the hive": 128 instances per user), shared with the
    // model catalog; a monitor built without one (tests) makes and owns its own.
    private readonly Inotify? _sharedInotify;
    private Inotify? _inotify;
    private Task? _loop;

    public WorkerMonitor(IOptions<WorkerOptions> options, WorkerCatalog catalog, PortAllocator ports, ILogger<WorkerMonitor> logger,
        NvidiaSmi? nvidiaSmi = null, Inotify? inotify = null)
    {
        _options = options.Value;
        _catalog = catalog;
        _ports = ports;
        _logger = logger;
        _sharedInotify = inotify;
        _gpu = new GpuProcessProbe(nvidiaSmi ?? new NvidiaSmi());
        string? reason;
        if (_options.ForceProcessGroups)
        {
            Tree = null;
            reason = "Workers:ForceProcessGroups is set";
        }
        else Tree = CgroupTree.Open(_options.CgroupRoot, out reason);
        Mode = Tree is null
            ? new MonitoringInfo(MonitoringInfo.ProcessGroups, Reason: reason)
            : new MonitoringInfo(MonitoringInfo.CgroupV2, Root: Tree.RootPath);
    }

    /// <summary>How workers are watched: cgroup v2 with its root, or process groups with the reason (capabilities).</summary>
    public MonitoringInfo Mode { get; }

    /// <summary>The hive's cgroup subtree; null in process-group mode.</summary>
    public CgroupTree? Tree { get; }

    public IReadOnlyList<ProcessStats> Current => _current;

    public event Action? Changed;

    /// <summary>Raised (on the scan) when a worker's cgroup emptied; the supervisor frees its port or restarts it.</summary>
    public event Action<WorkerEntry>? Exited;

    public IReadOnlyCollection<WorkerEntry> Entries => (IReadOnlyCollection<WorkerEntry>)_entries.Values;

    /// <summary>Watches held on the hive's inotify instance (the model catalog's included when it is shared).</summary>
    public int InotifyWatches => _inotify?.WatchCount ?? 0;

    public string WorkerDirectoryOf(WorkerCgroupName name) =>
        Path.Combine(_options.ResolvedStateDirectory, "workers", _options.CgroupRoot, name.WorkerType, name.Port.ToString(CultureInfo.InvariantCulture));

    /// <summary>Adopts what runs in the tree (a restarted hive) and starts watching.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        if (Tree is null) Log.ProcessGroupMode(_logger, Mode.Reason ?? "unknown");
        else Log.CgroupMode(_logger, Tree.RootPath);
        _inotify = _sharedInotify ?? new Inotify(_logger);
        await ScanAsync(ct).ConfigureAwait(false);
        _loop = Task.Run(() => LoopAsync(_stop.Token), CancellationToken.None);
    }

    /// <summary>Asks for a scan now (an inotify event, a child's exit, a spawn or a stop).</summary>
    public void Kick()
    {
        try { _kick.Release(); }
        catch (SemaphoreFullException) { } // one pending scan covers every request made before it starts
    }

    /// <summary>
    /// Claims a worker's place before its cgroup exists, so a scan never takes the new, still empty cgroup for the
    /// leftover of a dead worker and removes it under the spawn.
    /// </summary>
    public void Reserve(WorkerEntry entry)
    {
        if (!_entries.TryAdd(entry.Key, entry)) throw new InvalidOperationException($"worker {entry.Key} is already tracked");
    }

    /// <summary>Arms the watches of a reserved worker (its cgroup now exists), before its process is started.</summary>
    public void Register(WorkerEntry entry)
    {
        if (!_entries.TryGetValue(entry.Key, out var held) || !ReferenceEquals(held, entry)) Reserve(entry);
        Watch(entry);
        if (entry.Type?.Options.Readiness == ReadinessRules.Health) _ = ProbeHealthAsync(entry);
    }

    /// <summary>Drops a reserved worker whose process never started (its cgroup, if created, is removed).</summary>
    public void Forget(WorkerEntry entry)
    {
        if (!_entries.TryGetValue(entry.Key, out var held) || !ReferenceEquals(held, entry)) return;
        Remove(entry);
    }

    public bool TryGet(string key, out WorkerEntry entry) => _entries.TryGetValue(key, out entry!);

    public WorkerEntry? FindByPort(int port) => _entries.Values.FirstOrDefault(e => e.Port == port);

    public WorkerEntry? FindByPid(int pid) =>
        _entries.Values.FirstOrDefault(e => e.MainPid == pid || (e.LastStats?.Pids?.Contains(pid) ?? false));

    private void Watch(WorkerEntry entry)
    {
        if (_inotify is null) return;
        Directory.CreateDirectory(entry.WorkerDirectory);
        entry.DirectoryWatch = _inotify.Add(entry.WorkerDirectory, Libc.IN_MOVED_TO | Libc.IN_CLOSE_WRITE,
            (name, _) => { if (name is null || name == Path.GetFileName(entry.ReadyFile)) Kick(); });
        if (entry.CgroupPath is not null)
            entry.EventsWatch = _inotify.Add(Path.Combine(entry.CgroupPath, "cgroup.events"), Libc.IN_MODIFY, (_, _) => Kick());
    }

    private async Task LoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _kick.WaitAsync(_options.ScanInterval, ct).ConfigureAwait(false);
                await ScanAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.ScanFailed(_logger, e);
            }
        }
    }

    /// <summary>One pass over the tree: adopt, sample, detect readiness and exits, publish.</summary>
    public async Task ScanAsync(CancellationToken ct)
    {
        await _scanGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (Tree is not null)
                foreach (var name in Tree.Enumerate())
                    if (!_entries.ContainsKey(name.Key)) AdoptOrClear(name);

            var now = Stopwatch.GetTimestamp();
            var uptime = KernelFile.TryRead("/proc/uptime", out var u) ? ProcFiles.Uptime(u) : null;
            var gpu = _entries.IsEmpty ? null : await _gpu.SampleAsync(ct).ConfigureAwait(false);
            var stats = new List<ProcessStats>(_entries.Count);
            var removed = new List<WorkerEntry>();
            var changed = false;
            foreach (var entry in _entries.Values)
            {
                var pids = PidsOf(entry);
                if (pids.Count == 0)
                {
                    // Empty before its process entered (a spawn in progress) is not an exit; empty after, or after the
                    // child we started has exited, is.
                    var childGone = entry.Child is { } c && HasExited(c);
                    if (entry.SeenPopulated || childGone || (entry.Child is null && entry.Adopted))
                    {
                        if (Detach(entry)) removed.Add(entry);
                        changed = true;
                    }
                    else if (entry.LastStats is { } last) stats.Add(last);
                    continue;
                }
                entry.SeenPopulated = true;
                var state = StateOf(entry, pids);
                if (state != entry.State)
                {
                    Log.StateChanged(_logger, entry.Key, entry.State, state);
                    entry.State = state;
                    changed = true;
                    if (state == WorkerStates.Ready) entry.ReadySignal.TrySetResult();
                }
                if (entry.LastStats is null) changed = true;
                var s = Sample(entry, pids, now, uptime, gpu);
                entry.LastStats = s;
                stats.Add(s);
                RotateLogIfLarge(entry);
            }
            stats.Sort((a, b) => string.CompareOrdinal(a.Group, b.Group) != 0 ? string.CompareOrdinal(a.Group, b.Group) : a.Port.CompareTo(b.Port));
            _current = stats;
            if (changed) Changed?.Invoke();
            // Only now, with the view published without them, do waiters on these exits (a stop, a spawn) go on.
            foreach (var entry in removed) Announce(entry);
        }
        finally
        {
            _scanGate.Release();
        }
    }

    private static bool HasExited(Process p)
    {
        try { return p.HasExited; }
        catch (InvalidOperationException) { return true; }
    }

    private List<int> PidsOf(WorkerEntry entry)
    {
        if (entry.ProcsFile is not null) return KernelFile.TryRead(entry.ProcsFile, out var procs) ? ProcFiles.Pids(procs) : [];
        // Process-group mode: the worker is its own session and group leader (setsid), so its group id is its pid.
        if (entry.MainPid is not { } leader || !Libc.IsAlive(leader) || (entry.Child is { } c && HasExited(c))) return [];
        var pids = new List<int> { leader };
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == leader) continue;
            if (ProcFiles.TryRead(Path.Combine(dir, "stat")) is { } stat && PgrpOf(stat) == leader) pids.Add(pid);
        }
        return pids;
    }

    private static int? PgrpOf(string stat)
    {
        var close = stat.LastIndexOf(')');
        var rest = close < 0 ? [] : stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return rest.Length > 2 && int.TryParse(rest[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var g) ? g : null;
    }

    private string StateOf(WorkerEntry entry, List<int> pids)
    {
        if (entry.StopRequested) return WorkerStates.Stopping;
        if (entry.State == WorkerStates.Ready) return WorkerStates.Ready;
        if (entry.HealthOk) return WorkerStates.Ready;
        if (ReadyFileNames(entry, pids)) return WorkerStates.Ready;
        return WorkerStates.Starting;
    }

    /// <summary>The worker's ready file exists and names one of the worker's own pids (a stale file from an earlier
    /// worker on this port does not count).</summary>
    private static bool ReadyFileNames(WorkerEntry entry, List<int> pids)
    {
        if (ProcFiles.TryRead(entry.ReadyFile) is not { Length: > 0 } text) return false;
        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            if (root.TryGetProperty("event", out var ev) && ev.ValueKind == JsonValueKind.String && ev.GetString() != "ready") return false;
            if (root.TryGetProperty("pid", out var pid) && pid.TryGetInt32(out var p)) return pids.Contains(p);
            return true;
        }
        catch (JsonException)
        {
            return false; // half-written by a worker that does not rename atomically: the next event re-reads it
        }
    }

    private ProcessStats Sample(WorkerEntry entry, List<int> pids, long now, double? bootUptime, IReadOnlyDictionary<int, long>? gpu)
    {
        var main = MainPidOf(entry, pids);
        var elapsedS = entry.LastSampleTimestamp == 0 ? 0 : Stopwatch.GetElapsedTime(entry.LastSampleTimestamp, now).TotalSeconds;
        var last = entry.LastStats;
        // A scan woken by an event may come milliseconds after the last: such a short window says little, so the rates
        // of the last full window stand until the next one.
        var measure = entry.LastSampleTimestamp == 0 || elapsedS >= 0.25;

        double? cpuPct = last?.CpuPct;
        long? cpuUsec = CpuUsec(entry, pids);
        if (measure)
        {
            cpuPct = entry.LastCpuUsec is { } prev && cpuUsec is { } cur && elapsedS > 0 && cur >= prev
                ? Math.Round((cur - prev) / (elapsedS * 1e6) * 100.0, 1)
                : null;
        }

        long? rssBytes = null;
        entry.HasMemoryCurrent ??= entry.MemoryCurrentFile is not null && File.Exists(entry.MemoryCurrentFile);
        if (entry.HasMemoryCurrent == true && KernelFile.TryRead(entry.MemoryCurrentFile!, out var mem)
            && long.TryParse(mem.Trim(" \t\n\r\v\f"u8), NumberStyles.Integer, CultureInfo.InvariantCulture, out var memBytes))
            rssBytes = memBytes;
        else
        {
            foreach (var pid in pids)
                if (KernelFile.TryReadProc(pid, "statm", out var st) && ProcFiles.StatmRssBytes(st, Environment.SystemPageSize) is { } r)
                    rssBytes = (rssBytes ?? 0) + r;
        }

        var io = IoOf(entry, pids);
        double? ioR = last?.IoReadBps, ioW = last?.IoWriteBps;
        if (measure)
        {
            if (entry.LastIo is { } pio && io is { } cio && elapsedS > 0 && cio.Read >= pio.Read && cio.Write >= pio.Write)
            {
                ioR = Math.Round((cio.Read - pio.Read) / elapsedS, 0);
                ioW = Math.Round((cio.Write - pio.Write) / elapsedS, 0);
            }
            else
            {
                ioR = null;
                ioW = null;
            }
            entry.LastCpuUsec = cpuUsec;
            entry.LastIo = io;
            entry.LastSampleTimestamp = now;
        }

        double? uptimeS = null;
        if (bootUptime is { } boot && StartTicksOf(entry, main) is { } start)
            uptimeS = Math.Round(Math.Max(0, boot - (double)start / Libc.ClockTicks), 1);

        long? vram = null;
        if (gpu is not null)
            foreach (var pid in pids)
                if (gpu.TryGetValue(pid, out var mb)) vram = (vram ?? 0) + mb;

        return new ProcessStats(
            main, entry.Name.WorkerType, entry.Port.ToString(CultureInfo.InvariantCulture), entry.Port, entry.State,
            entry.Model, entry.Device, cpuPct, rssBytes is { } b ? b / (1024 * 1024) : null, ioR, ioW, uptimeS,
            GpuUtilPct: null, VramMb: vram, TotalVramMb: gpu is null ? null : _gpu.TotalVramMb)
        {
            WorkerId = entry.WorkerId,
            Pids = pids,
            LogPath = entry.LogPath,
            ModelId = entry.ModelId,
            StartedBy = entry.StartedBy,
        };
    }

    private static int MainPidOf(WorkerEntry entry, List<int> pids)
    {
        if (entry.MainPid is { } m && pids.Contains(m)) return m;
        // The process whose parent is outside the cgroup is the one the hive (or its shim) started.
        foreach (var pid in pids)
            if (ProcFiles.TryRead($"/proc/{pid}/stat") is { } s && ProcFiles.Stat(s) is { } st && !pids.Contains(st.Ppid))
            {
                entry.MainPid = pid;
                return pid;
            }
        entry.MainPid = pids.Min();
        return entry.MainPid.Value;
    }

    private static long? StartTicksOf(WorkerEntry entry, int pid)
    {
        if (entry.StartTicks.TryGetValue(pid, out var t)) return t;
        if (ProcFiles.TryRead($"/proc/{pid}/stat") is not { } s || ProcFiles.Stat(s) is not { } st) return null;
        entry.StartTicks[pid] = st.StartTicks;
        return st.StartTicks;
    }

    private static long? CpuUsec(WorkerEntry entry, List<int> pids)
    {
        if (entry.CpuStatFile is not null)
            return KernelFile.TryRead(entry.CpuStatFile, out var cpuStat) ? ProcFiles.CpuUsageUsec(cpuStat) : null;
        long ticks = 0;
        foreach (var pid in pids)
            if (ProcFiles.TryRead($"/proc/{pid}/stat") is { } s && ProcFiles.Stat(s) is { } st) ticks += st.CpuTicks;
        return ticks * 1_000_000 / Libc.ClockTicks;
    }

    private static (long Read, long Write)? IoOf(WorkerEntry entry, List<int> pids)
    {
        entry.HasIoStat ??= entry.IoStatFile is not null && File.Exists(entry.IoStatFile);
        if (entry.HasIoStat == true && KernelFile.TryRead(entry.IoStatFile!, out var ioStat) && ProcFiles.IoStat(ioStat) is { } cg)
            return cg;
        // No io controller on this cgroup (hybrid hosts): sum the storage bytes of its processes.
        (long, long)? sum = null;
        foreach (var pid in pids)
            if (KernelFile.TryReadProc(pid, "io", out var s) && ProcFiles.ProcIo(s) is { } io)
                sum = ((sum?.Item1 ?? 0) + io.Read, (sum?.Item2 ?? 0) + io.Write);
        return sum;
    }

    private void RotateLogIfLarge(WorkerEntry entry)
    {
        if (++entry.ScansSinceLogCheck < 10) return;
        entry.ScansSinceLogCheck = 0;
        try
        {
            var info = new FileInfo(entry.LogPath);
            if (!info.Exists || info.Length <= _options.LogMaxBytes) return;
            // Copy, then truncate: the worker keeps its descriptor (opened O_APPEND by the shim), so its next write lands
            // at the new end of the same file; no signal or reopen is needed.
            File.Copy(entry.LogPath, entry.LogPath + ".1", overwrite: true);
            using (var fs = new FileStream(entry.LogPath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) fs.SetLength(0);
            Log.LogRotated(_logger, entry.Key, info.Length);
        }
        catch (IOException e)
        {
            Log.LogRotateFailed(_logger, entry.Key, e.Message);
        }
    }

    private void AdoptOrClear(WorkerCgroupName name)
    {
        var path = Tree!.PathOf(name);
        var pids = CgroupTree.Pids(path);
        if (pids.Count == 0)
        {
            CgroupTree.TryRemove(path); // a leftover of a worker that exited while no hive watched
            return;
        }
        _catalog.TryGet(name.WorkerType, out var type);
        var entry = new WorkerEntry(name, path, WorkerDirectoryOf(name), type) { Adopted = true };
        entry.Lease = _ports.TryLock(name.Port);
        if (entry.Lease is null) Log.AdoptedPortLocked(_logger, name.Key);
        var main = MainPidOf(entry, pids);
        var args = ProcFiles.TryRead($"/proc/{main}/cmdline") is { } c ? ProcFiles.Cmdline(c) : [];
        var env = ProcFiles.TryRead($"/proc/{main}/environ") ?? "";
        (entry.Model, entry.ModelId, entry.StartedBy) = ModelOf(args, env);
        entry.WorkerId = ProcFiles.Flag(args, "--worker-id") ?? ProcFiles.Environ(env, WorkerEnvironment.WorkerId);
        entry.Device = ProcFiles.Environ(env, WorkerEnvironment.Device);
        entry.RestartOnFailure = ProcFiles.Environ(env, WorkerEnvironment.Restart) == RestartPolicies.OnFailure;
        entry.SeenPopulated = true;
        entry.State = ReadyFileNames(entry, pids) ? WorkerStates.Ready : WorkerStates.Starting;
        if (entry.State == WorkerStates.Ready) entry.ReadySignal.TrySetResult();
        _entries[entry.Key] = entry;
        Watch(entry);
        // Not ready by its file: ask its health endpoint (an external engine, or a worker adopted mid-load).
        if (entry.State == WorkerStates.Starting) _ = ProbeHealthAsync(entry);
        Log.Adopted(_logger, entry.Key, main, entry.Model ?? "?", entry.State);
    }

    /// <summary>
    /// What a running worker serves, read back from its command line and environment: the model file, the id it answers
    /// to (as the hive passed it: llm-worker-rbee, llama-server and vllm spell the flag differently; else the environment;
    /// else what the worker would have chosen itself, the file name without extension), and who started it.
    /// </summary>
    internal static (string? Model, string? ModelId, string? StartedBy) ModelOf(IReadOnlyList<string> args, string environ)
    {
        var model = ProcFiles.Flag(args, "--model", "-m") ?? ProcFiles.Environ(environ, WorkerEnvironment.Model);
        var id = ProcFiles.Flag(args, "--model-id", "--alias", "--served-model-name") ?? ProcFiles.Environ(environ, WorkerEnvironment.ModelId)
            ?? (model is null ? null : Rbee.Models.ModelFiles.IdOf(model));
        return (model, id, ProcFiles.Environ(environ, WorkerEnvironment.StartedBy));
    }

    private void Remove(WorkerEntry entry)
    {
        if (Detach(entry)) Announce(entry);
    }

    /// <summary>Stops tracking an emptied worker: watches, cgroup directory, ready file. False when already detached.</summary>
    private bool Detach(WorkerEntry entry)
    {
        if (!_entries.TryRemove(entry.Key, out _)) return false;
        _inotify?.Remove(entry.EventsWatch);
        _inotify?.Remove(entry.DirectoryWatch);
        entry.Lifetime.Cancel();
        if (entry.CgroupPath is not null) CgroupTree.TryRemove(entry.CgroupPath);
        TryDelete(entry.ReadyFile);
        int? exitCode = null;
        if (entry.Child is { } child)
        {
            try { if (child.HasExited) exitCode = child.ExitCode; }
            catch (InvalidOperationException) { }
        }
        Log.WorkerGone(_logger, entry.Key, entry.MainPid ?? 0, exitCode?.ToString(CultureInfo.InvariantCulture) ?? "unknown", entry.StopRequested);
        return true;
    }

    private void Announce(WorkerEntry entry)
    {
        entry.GoneSignal.TrySetResult();
        try { Exited?.Invoke(entry); }
        catch (Exception e) { Log.ScanFailed(_logger, e); }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
    }

    /// <summary>External engines (and adopted workers not ready by file): the health path, with a short local backoff.</summary>
    private async Task ProbeHealthAsync(WorkerEntry entry)
    {
        var healthPath = entry.Type?.Options.HealthPath ?? "/health";
        var host = _options.Host is "0.0.0.0" or "::" or "*" ? "127.0.0.1" : _options.Host;
        var url = new Uri($"http://{(host.Contains(':', StringComparison.Ordinal) ? "[" + host + "]" : host)}:{entry.Port}{healthPath}");
        var delay = _options.HealthBackoffMin;
        var ct = entry.Lifetime.Token;
        try
        {
            while (!ct.IsCancellationRequested && entry.State != WorkerStates.Ready)
            {
                try
                {
                    using var resp = await _http.GetAsync(url, ct).ConfigureAwait(false);
                    if (resp.IsSuccessStatusCode)
                    {
                        entry.HealthOk = true;
                        Kick();
                        return;
                    }
                }
                catch (HttpRequestException) { }
                catch (TaskCanceledException) when (!ct.IsCancellationRequested) { }
                await Task.Delay(delay, ct).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.HealthBackoffMax.Ticks));
            }
        }
        catch (OperationCanceledException) { }
    }

    public async Task StopAsync()
    {
        _stop.Cancel();
        if (_loop is not null) await _loop.ConfigureAwait(false);
    }

    public void Dispose()
    {
        _stop.Cancel();
        if (_sharedInotify is null) _inotify?.Dispose();
        else
            foreach (var e in _entries.Values)
            {
                _sharedInotify.Remove(e.EventsWatch);
                _sharedInotify.Remove(e.DirectoryWatch);
            }
        _http.Dispose();
        foreach (var e in _entries.Values) e.Lease?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = Workers.WorkerEventIds.CgroupMode, Level = LogLevel.Information, Message = "Watching workers in cgroup v2 tree {Root}")]
        public static partial void CgroupMode(ILogger logger, string root);

        [LoggerMessage(EventId = Workers.WorkerEventIds.ProcessGroupMode, Level = LogLevel.Warning, Message = "No writable cgroup v2 ({Reason}); falling back to tracking the process groups the hive starts (no re-adoption after a hive restart)")]
        public static partial void ProcessGroupMode(ILogger logger, string reason);

        [LoggerMessage(EventId = Workers.WorkerEventIds.StateChanged, Level = LogLevel.Information, Message = "Worker {Worker}: {OldState} -> {NewState}")]
        public static partial void StateChanged(ILogger logger, string worker, string oldState, string newState);

        [LoggerMessage(EventId = Workers.WorkerEventIds.WorkerGone, Level = LogLevel.Information, Message = "Worker {Worker} (pid {Pid}) gone, exit code {ExitCode}, requested stop: {Requested}")]
        public static partial void WorkerGone(ILogger logger, string worker, int pid, string exitCode, bool requested);

        [LoggerMessage(EventId = Workers.WorkerEventIds.Adopted, Level = LogLevel.Information, Message = "Re-adopted worker {Worker} (pid {Pid}, model {Model}), {State}")]
        public static partial void Adopted(ILogger logger, string worker, int pid, string model, string state);

        [LoggerMessage(EventId = Workers.WorkerEventIds.AdoptedPortLocked, Level = LogLevel.Warning, Message = "Re-adopted worker {Worker}: its port lock is held by another process; is another hive using the same cgroup root?")]
        public static partial void AdoptedPortLocked(ILogger logger, string worker);

        [LoggerMessage(EventId = Workers.WorkerEventIds.ScanFailed, Level = LogLevel.Error, Message = "Worker scan failed")]
        public static partial void ScanFailed(ILogger logger, Exception error);

        [LoggerMessage(EventId = Workers.WorkerEventIds.LogRotated, Level = LogLevel.Information, Message = "Rotated the log of worker {Worker} at {Bytes} bytes")]
        public static partial void LogRotated(ILogger logger, string worker, long bytes);

        [LoggerMessage(EventId = Workers.WorkerEventIds.LogRotateFailed, Level = LogLevel.Warning, Message = "Could not rotate the log of worker {Worker}: {Reason}")]
        public static partial void LogRotateFailed(ILogger logger, string worker, string reason);
    }
}
