using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rbee.Contracts.Wire;
using Rbee.Hive.Devices;
using Rbee.Hive.Workers;

namespace Rbee.Hive.Monitoring;

/// <summary>
/// The hive's workers, taken from the OS (DESIGN.md "Workers under the hive", Monitor), built like the queen's cluster
/// view (STYLE.md §3): one loop is the only writer of an immutable, versioned <see cref="WorkerSnapshot"/>. Every
/// <see cref="WorkerOptions.ScanInterval"/> it enumerates <c>&lt;root&gt;/*/*</c> and samples each worker; between scans
/// one inotify instance watches each worker's <c>cgroup.events</c> and directory, and a child's exit wakes it too.
/// Spawn, stop, kill, restart and health verdicts are commands sent to the loop through a <see cref="Channel{T}"/>, so
/// no two parties ever write the same worker. Readers take <see cref="Snapshot"/> without locks or wait for a condition
/// with <see cref="WaitForAsync"/>; a worker leaves the view only after its port lease is released.
/// </summary>
public sealed partial class WorkerMonitor : IWorkerView, IDisposable
{
    private readonly WorkerOptions _options;
    private readonly WorkerCatalog _catalog;
    private readonly PortAllocator _ports;
    private readonly TimeProvider _time;
    private readonly ILogger<WorkerMonitor> _logger;
    private readonly GpuProcessProbe _gpu;
    private readonly bool _gpuPresent;
    private readonly WorkerSampler _sampler;
    private readonly HealthProber _health;
    private readonly bool _ownsHealth;
    private readonly Channel<Command> _commands = Channel.CreateUnbounded<Command>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    // The hive's one inotify instance (DESIGN.md "Workers under the hive": 128 instances per user), shared with the
    // model catalog; a monitor built without one (tests) makes and owns its own.
    private readonly Inotify? _sharedInotify;
    private Inotify? _inotify;
    private Task? _loop;
    // Set at the top of StartAsync: from then on commands are accepted (the channel is unbounded and buffers them), so
    // one sent during the first scan (a health verdict of an adopted worker, a kick) waits for the loop instead of being
    // dropped.
    private volatile bool _started;
    private int _disposed;
    // GPU figures are sampled off the loop (nvidia-smi may take seconds on a wedged driver; spawn, stop and kill must not
    // queue behind it): the sampler's latest result, read by each scan; null when unknown.
    private ITimer? _gpuTick;
    private int _gpuSampling;
    private GpuSample? _gpuLatest;
    private ITimer? _tick;
    private int _scanQueued;

    // Read by everyone, written by the loop only.
    private WorkerSnapshot _current = WorkerSnapshot.Empty;
    private TaskCompletionSource? _swapped;

    // The loop's own state: touched by the loop alone (and by Dispose once the loop has ended).
    private readonly SortedDictionary<WorkerCgroupName, Tracked> _tracked = new(NameOrder.Instance);
    private readonly List<PendingRestart> _restarts = [];
    private bool _restartsCancelled;
    private long _generation;
    private int _scansSinceLogCheck;
    private readonly WorkerKeys? _keys;

    public WorkerMonitor(IOptions<WorkerOptions> options, WorkerCatalog catalog, PortAllocator ports, TimeProvider time,
        ILogger<WorkerMonitor> logger, NvidiaSmi? nvidiaSmi = null, Inotify? inotify = null, HealthProber? health = null,
        WorkerKeys? keys = null)
    {
        _keys = keys;
        _options = options.Value;
        RunAs = WorkerUser.Resolve(_options.User, out _);
        _catalog = catalog;
        _ports = ports;
        _time = time;
        _logger = logger;
        _sharedInotify = inotify;
        var smi = nvidiaSmi ?? new NvidiaSmi();
        _gpuPresent = smi.Present;
        _gpu = new GpuProcessProbe(smi);
        _sampler = new WorkerSampler(time);
        _ownsHealth = health is null;
        _health = health ?? new HealthProber(options, time);
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

    /// <summary>The workers now. Immutable; replaced whole by the loop.</summary>
    public WorkerSnapshot Snapshot => Volatile.Read(ref _current);

    public IReadOnlyList<ProcessStats> Current => Snapshot.Stats;

    /// <summary>Raised (on the loop) after a snapshot that added, removed or changed the state of a worker, or that holds
    /// a worker's first figures: what a queen must hear about at once.</summary>
    public event Action? Changed;

    /// <summary>Raised (on the loop) for each worker that left the view, with how it left (for the metrics).</summary>
    public event Action<WorkerRecord, WorkerExit>? WorkerExited;

    /// <summary>Raised (on the loop) when a worker that failed is to come back by its on_failure policy: its record and
    /// the attempt (1 for the first restart).</summary>
    public event Action<WorkerRecord, int>? WorkerRestarting;

    /// <summary>Watches held on the hive's inotify instance (the model catalog's included when it is shared).</summary>
    public int InotifyWatches => _inotify?.WatchCount ?? 0;

    public string WorkerDirectoryOf(WorkerCgroupName name) =>
        Path.Combine(_options.ResolvedStateDirectory, "workers", _options.CgroupRoot, name.WorkerType, name.Port.ToString(CultureInfo.InvariantCulture));

    /// <summary>Whom workers run as; null: the hive's own user (<see cref="WorkerOptions.User"/>).</summary>
    public WorkerUser? RunAs { get; }

    /// <summary>
    /// A fresh ready directory for the next worker on a port: reachable by the worker's user through directories the hive
    /// made world-searchable (0755, never the operator's), and the worker's own (0700) when it runs as another user.
    /// </summary>
    private void PrepareReadyDirectory(string directory)
    {
        var root = Path.Combine(_options.RunDirectory, "workers");
        Directory.CreateDirectory(directory);
        if (RunAs is null || OperatingSystem.IsWindows()) return;
        const UnixFileMode Searchable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        for (var d = Path.GetDirectoryName(directory); d is not null && d.Length >= root.Length; d = Path.GetDirectoryName(d))
            File.SetUnixFileMode(d, Searchable);
        UnixAccess.GiveTo(directory, RunAs);
        File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (UnixAccess.Blocker(directory, RunAs, execute: true) is { } blocked)
            throw new WorkerOperationException($"the worker's user {RunAs} cannot reach its directory {directory}: {blocked} is in the way; " +
                "make it searchable by others (chmod o+x) or set Hive:RunDir to a directory it can reach");
    }

    /// <summary>See <see cref="WorkerRecord.ReadyDirectory"/>.</summary>
    public string ReadyDirectoryOf(WorkerCgroupName name) =>
        Path.Combine(_options.RunDirectory, "workers", _options.CgroupRoot, name.WorkerType, name.Port.ToString(CultureInfo.InvariantCulture));

    /// <summary>
    /// The log of the worker on <paramref name="port"/>, else of the last one that ran there (its directory outlives it,
    /// so a crashed worker's last words can still be read); null when no worker ever ran on that port.
    /// </summary>
    public string? LogOf(int port)
    {
        if (Snapshot.FindByPort(port) is { } running) return running.LogPath;
        var root = Path.Combine(_options.ResolvedStateDirectory, "workers", _options.CgroupRoot);
        if (!Directory.Exists(root)) return null;
        return Directory.EnumerateDirectories(root)
            .Select(type => new FileInfo(Path.Combine(type, port.ToString(CultureInfo.InvariantCulture), WorkerFiles.Log)))
            .Where(f => f.Exists)
            .OrderByDescending(f => f.LastWriteTimeUtc)
            .FirstOrDefault()?.FullName;
    }

    /// <summary>Adopts what runs in the tree (a restarted hive) and starts the loop; the first snapshot already holds them.</summary>
    public Task StartAsync(CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        if (Tree is null) Log.ProcessGroupMode(_logger, Mode.Reason ?? "unknown");
        else Log.CgroupMode(_logger, Tree.RootPath);
        _started = true;
        _inotify = _sharedInotify ?? new Inotify(_logger);
        ScanOnce();
        _loop = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);
        // The safety-net scan is a periodic kick on the monitor's clock, coalesced with the inotify and exit kicks: the
        // loop sleeps in one wait on its command channel, with no timeout to cancel (and no exception) every interval. A
        // hive that was frozen (SIGSTOP) gets one tick on resuming, not a burst. Armed before StartAsync returns.
        _tick = _time.CreateTimer(static m => ((WorkerMonitor)m!).Kick(), this, _options.ScanInterval, _options.ScanInterval);
        if (_gpuPresent)
            _gpuTick = _time.CreateTimer(static m => ((WorkerMonitor)m!).SampleGpu(), this, TimeSpan.Zero, _options.ScanInterval);
        return Task.CompletedTask;
    }

    /// <summary>One GPU sample on the thread pool, at most one at a time; none (and no figures) while no worker runs.</summary>
    private void SampleGpu()
    {
        if (Snapshot.Workers.IsEmpty)
        {
            Volatile.Write(ref _gpuLatest, null);
            return;
        }
        if (Interlocked.Exchange(ref _gpuSampling, 1) != 0) return;
        _ = Task.Run(async () =>
        {
            try
            {
                var map = await _gpu.SampleAsync(_stop.Token).ConfigureAwait(false);
                Volatile.Write(ref _gpuLatest, map is null ? null : new GpuSample(map, _gpu.TotalVramMb));
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested) { }
            catch (Exception e)
            {
                Volatile.Write(ref _gpuLatest, null);
                Log.ScanFailed(_logger, e);
            }
            finally
            {
                Volatile.Write(ref _gpuSampling, 0);
            }
        }, CancellationToken.None);
    }

    /// <summary>Asks for a scan now (an inotify event, a child's exit). Coalesced: one queued scan covers every request
    /// made before it starts.</summary>
    public void Kick()
    {
        if (Interlocked.CompareExchange(ref _scanQueued, 1, 0) == 0 && !Post(new ScanCommand(null)))
            Volatile.Write(ref _scanQueued, 0);
    }

    /// <summary>Completes after a full scan that started after this call (at once when the loop has stopped).</summary>
    public Task ScanAsync(CancellationToken ct = default)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return Post(new ScanCommand(done)) ? done.Task.WaitAsync(ct) : Task.CompletedTask;
    }

    /// <summary>Starts a worker on the lowest free port of its type; completes once its process runs and it is in the
    /// view, as <c>starting</c>. Cancelled while queued, nothing is started; cancelled after the loop started it, the
    /// worker is stopped at once, so a caller that gave up leaves no worker behind.</summary>
    internal async Task<WorkerRecord> SpawnAsync(SpawnSpec spec, CancellationToken ct)
    {
        var reply = new TaskCompletionSource<WorkerRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!Post(new SpawnCommand(spec, 0, null, reply, ct))) throw new WorkerOperationException("the hive is stopping");
        try
        {
            return await reply.Task.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The loop may have started it after all (cancelled after its check): nobody would ever stop that worker.
            _ = reply.Task.ContinueWith(static (t, m) =>
            {
                if (t.IsCompletedSuccessfully) ((WorkerMonitor)m!).Stop(t.Result, TimeSpan.Zero);
            }, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw;
        }
    }

    /// <summary>SIGTERM now and <c>cgroup.kill</c> after <paramref name="grace"/> (at once for zero); the worker's
    /// <see cref="WorkerRecord.Exited"/> completes when it has left the view. False when the loop has stopped (the hive
    /// is stopping): nothing will carry the stop out.</summary>
    internal bool Stop(WorkerRecord worker, TimeSpan grace) => Post(new StopCommand(worker.Name, worker.Generation, grace));

    /// <summary><c>cgroup.kill</c> for every worker now (processes that slipped in during a stop).</summary>
    internal Task KillAllAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return Post(new KillAllCommand(done)) ? done.Task : Task.CompletedTask;
    }

    /// <summary>Drops every pending on_failure restart (releasing its port), and any that a later exit would schedule.
    /// One-way: once called, this monitor schedules no on_failure restart again (it is meant for stopping the hive).</summary>
    internal Task CancelRestartsAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return Post(new CancelRestartsCommand(done)) ? done.Task : Task.CompletedTask;
    }

    /// <summary>Drops the pending on_failure restart on <paramref name="port"/>, if any (releasing the port): a stop of a
    /// worker in its restart backoff. The worker type whose restart was dropped; null when none was pending.</summary>
    internal Task<string?> CancelRestartAsync(int port)
    {
        var done = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        return Post(new CancelRestartCommand(port, done)) ? done.Task : Task.FromResult<string?>(null);
    }

    /// <summary>Hands a command to the loop (queued until it runs, when sent during the first scan); false when there is no
    /// loop to carry it out (not started, or stopped).</summary>
    private bool Post(Command command) => _started && _commands.Writer.TryWrite(command);

    /// <summary>
    /// Completes true as soon as <paramref name="predicate"/> holds for the current snapshot (at once when it already
    /// does), false when <paramref name="timeout"/> (on the monitor's <see cref="TimeProvider"/>) passes first; throws
    /// <see cref="OperationCanceledException"/> when <paramref name="ct"/> is cancelled. Evaluated on each new snapshot.
    /// </summary>
    public async Task<bool> WaitForAsync(Func<WorkerSnapshot, bool> predicate, TimeSpan timeout, CancellationToken ct = default)
    {
        if (predicate(Snapshot)) return true;
        ct.ThrowIfCancellationRequested();
        using var deadline = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
        while (true)
        {
            // Take the signal before looking: a swap after the look completes it; one before it is seen by the look.
            var swapped = NextSwap();
            if (predicate(Snapshot)) return true;
            try
            {
                await swapped.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return predicate(Snapshot);
            }
        }
    }

    private Task NextSwap()
    {
        var tcs = Volatile.Read(ref _swapped);
        if (tcs is not null) return tcs.Task;
        var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return (Interlocked.CompareExchange(ref _swapped, created, null) ?? created).Task;
    }

    private async Task RunAsync(CancellationToken ct)
    {
        var reader = _commands.Reader;
        var scanWaiters = new List<TaskCompletionSource>();
        while (await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false) && !ct.IsCancellationRequested)
        {
            try
            {
                var scan = false;
                while (reader.TryRead(out var command))
                {
                    if (command is ScanCommand s)
                    {
                        scan = true;
                        if (s.Done is not null) scanWaiters.Add(s.Done);
                    }
                    else Apply(command);
                }
                if (scan)
                {
                    Volatile.Write(ref _scanQueued, 0);
                    try
                    {
                        ScanOnce();
                    }
                    finally
                    {
                        // A failed scan (logged below) completes its waiters too: each looks at the view itself, and
                        // none hangs on a scan that will not come.
                        foreach (var w in scanWaiters) w.TrySetResult();
                        scanWaiters.Clear();
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                Log.ScanFailed(_logger, e);
            }
        }
        // Nothing more is carried out: whoever waits on a command that will not run hears so now.
        _commands.Writer.TryComplete();
        foreach (var w in scanWaiters) w.TrySetResult();
        while (reader.TryRead(out var left))
            switch (left)
            {
                case ScanCommand { Done: { } d }: d.TrySetResult(); break;
                case SpawnCommand s: s.Lease?.Dispose(); s.Reply?.TrySetException(new WorkerOperationException("the hive is stopping")); break;
                case KillAllCommand k:
                    // Still the loop: the kill asked for before it ended is carried out, not just answered.
                    foreach (var t in _tracked.Values) KillNow(t);
                    k.Done.TrySetResult();
                    break;
                case CancelRestartsCommand c: c.Done.TrySetResult(); break;
                case CancelRestartCommand c: c.Done.TrySetResult(null); break;
            }
    }

    private void Apply(Command command)
    {
        try
        {
            switch (command)
            {
                case SpawnCommand s: Spawn(s); break;
                case StopCommand s: StopWorker(s); break;
                case KillCommand k: KillWorker(k); break;
                case HealthyCommand h: Healthy(h); break;
                case RestartDueCommand r: RestartDue(r.Restart); break;
                case KillAllCommand k:
                    foreach (var t in _tracked.Values) KillNow(t);
                    k.Done.TrySetResult();
                    break;
                case CancelRestartsCommand c:
                    CancelRestarts();
                    c.Done.TrySetResult();
                    break;
                case CancelRestartCommand c:
                    c.Done.TrySetResult(CancelRestart(c.Port));
                    break;
            }
        }
        catch (Exception e)
        {
            Log.ScanFailed(_logger, e);
        }
    }

    // ---- spawn, stop, restart (carried out by the loop) ----

    private void Spawn(SpawnCommand s)
    {
        var spec = s.Spec;
        var t = spec.Type.Options;
        PortLease? lease = s.Lease;
        if (s.Ct.IsCancellationRequested)
        {
            // The caller gave up while the command was queued: start nothing, keep no port.
            lease?.Dispose();
            s.Reply?.TrySetCanceled(s.Ct);
            return;
        }
        Tracked? tracked = null;
        try
        {
            lease ??= _ports.Acquire(t.BasePort, t.PortCount)
                ?? throw new WorkerOperationException($"no free port for {spec.Type.Name} in {t.BasePort}-{t.BasePort + t.PortCount - 1} (each is taken or locked by another hive)");
            var name = new WorkerCgroupName(spec.Type.Name, lease.Port);
            if (_tracked.ContainsKey(name)) throw new WorkerOperationException($"worker {name.Key} is already running");
            var cgroup = Tree?.PathOf(name);
            var exited = new TaskCompletionSource<WorkerExit>(TaskCreationOptions.RunContinuationsAsynchronously);
            var record = new WorkerRecord
            {
                Name = name,
                Generation = ++_generation,
                CgroupPath = cgroup,
                WorkerDirectory = WorkerDirectoryOf(name),
                ReadyDirectory = ReadyDirectoryOf(name),
                Type = spec.Type,
                State = WorkerStates.Starting,
                Model = spec.ModelPath,
                ModelId = spec.ModelId,
                StartedBy = spec.StartedBy,
                Device = spec.Device,
                WorkerId = $"{spec.Type.Name}-{lease.Port}-{Guid.NewGuid().ToString("N")[..8]}",
                RestartOnFailure = spec.RestartOnFailure,
                RestartAttempt = s.Attempt,
                Exited = exited.Task,
            };
            Tree?.Create(name, _options.CpuMax, _options.MemoryMax);
            Directory.CreateDirectory(record.WorkerDirectory);
            PrepareReadyDirectory(record.ReadyDirectory);
            File.Delete(record.ReadyFile);
            File.AppendAllText(record.LogPath, $"--- rbee-hive starts {spec.Type.Name} worker on port {lease.Port} at {_time.GetUtcNow():O} ---\n");
            tracked = new Tracked(record, new SampleSource(cgroup), lease, exited);
            _tracked.Add(name, tracked);
            Watch(tracked); // armed before the process exists: no ready or exit event is missed
            var process = Process.Start(WorkerLauncher.StartInfo(spec, record, _options.Host, _keys?.For(lease.Port), RunAs))
                ?? throw new WorkerOperationException($"could not start {spec.Type.ProgramPath}");
            tracked.Child = process;
            tracked.Record = record with { MainPid = process.Id };
            if (cgroup is null) WriteGroupFile(record.WorkerDirectory, process.Id);
            process.EnableRaisingEvents = true;
            process.Exited += (_, _) => Kick();
            if (t.Readiness == ReadinessRules.Health) StartHealthProbe(tracked);
            Log.Started(_logger, name.Key, process.Id, spec.ModelPath, spec.ModelId, cgroup ?? "(process group)", record.LogPath);
            Publish([new WorkerJoined(0, name.Key, tracked.Record)], notify: true);
            s.Reply?.TrySetResult(tracked.Record);
            Kick();
        }
        catch (Exception e)
        {
            // Nothing half-started is left: no process (Process.Start is the last step that can fail), no cgroup, no
            // tracked worker, no port.
            if (tracked is not null)
            {
                Unwatch(tracked);
                _tracked.Remove(tracked.Record.Name);
                if (tracked.Record.CgroupPath is { } path) CgroupTree.TryRemove(path);
                tracked.Exited.TrySetResult(new WorkerExit(null, Requested: true));
            }
            lease?.Dispose();
            if (s.Reply is not null) s.Reply.TrySetException(e is WorkerOperationException or IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception
                ? new WorkerOperationException(e.Message) : e);
            else Log.RestartFailed(_logger, $"{spec.Type.Name}/{lease?.Port}", e.Message);
        }
    }

    private void StopWorker(StopCommand s)
    {
        if (!_tracked.TryGetValue(s.Name, out var t) || t.Record.Generation != s.Generation) return; // already gone
        var first = !t.StopRequested;
        t.StopRequested = true;
        var old = t.Record.State;
        // Stats too: the change published now must not still say the old state until the next scan.
        t.Record = t.Record with
        {
            State = WorkerStates.Stopping,
            RestartOnFailure = false,
            Stats = t.Record.Stats is { } stats ? stats with { State = WorkerStates.Stopping } : null,
        };
        if (old != WorkerStates.Stopping)
        {
            Log.StateChanged(_logger, s.Name.Key, old, WorkerStates.Stopping);
            Publish([new WorkerStateChanged(0, s.Name.Key, old, WorkerStates.Stopping)], notify: true);
        }
        if (s.Grace <= TimeSpan.Zero) KillNow(t);
        else if (first)
        {
            foreach (var pid in LivePids(t)) Libc.Signal(pid, Libc.SIGTERM);
            t.KillTimer = _time.CreateTimer(_ => Post(new KillCommand(s.Name, s.Generation, s.Grace)), null, s.Grace, Timeout.InfiniteTimeSpan);
        }
        // else: a stop with a grace is already under way; its timer kills the worker when that grace ends.
        Kick();
    }

    private void KillWorker(KillCommand k)
    {
        if (!_tracked.TryGetValue(k.Name, out var t) || t.Record.Generation != k.Generation) return;
        Log.GraceExpired(_logger, k.Name.Key, k.Grace);
        KillNow(t);
        Kick();
    }

    private static void KillNow(Tracked t)
    {
        t.Killed = true;
        if (t.Record.CgroupPath is { } path) CgroupTree.Kill(path);
        else if (t.Record.MainPid is { } leader) Libc.Signal(-leader, Libc.SIGKILL);
        // A stop right after the spawn can come before the shim has entered the cgroup: cgroup.kill finds nobody then.
        // The shim is our child and keeps its pid through setsid and exec, so it is killed by pid too.
        if (t.Child is { } child && !HasExited(child)) Libc.Signal(child.Id, Libc.SIGKILL);
    }

    private static List<int> LivePids(Tracked t)
    {
        if (t.Record.CgroupPath is { } path) return CgroupTree.Pids(path);
        return t.Record.MainPid is { } p && Libc.IsAlive(p) ? [p] : [];
    }

    private void Healthy(HealthyCommand h)
    {
        if (!_tracked.TryGetValue(h.Name, out var t) || t.Record.Generation != h.Generation) return;
        t.HealthOk = true;
        Kick();
    }

    private void StartHealthProbe(Tracked t)
    {
        var name = t.Record.Name;
        var generation = t.Record.Generation;
        var url = _health.UrlOf(name.Port, t.Record.Type?.Options.HealthPath);
        var ct = t.Lifetime.Token;
        _ = Task.Run(async () =>
        {
            if (await _health.WaitHealthyAsync(url, ct).ConfigureAwait(false)) Post(new HealthyCommand(name, generation));
        }, CancellationToken.None);
    }

    /// <summary>An exited worker with on_failure comes back on its port after a backoff (the port stays locked for it,
    /// seed 000, edge case 3); anything else frees its port. Called before the worker leaves the view.</summary>
    private void ReleaseOrRestart(Tracked t)
    {
        var r = t.Record;
        var lease = t.Lease;
        t.Lease = null;
        if (lease is null) return;
        if (_restartsCancelled || t.StopRequested || !r.RestartOnFailure || r.Type is not { Available: true } type || r.RestartAttempt >= _options.RestartMaxAttempts)
        {
            lease.Dispose();
            return;
        }
        var attempt = r.RestartAttempt + 1;
        var delay = TimeSpan.FromTicks(_options.RestartBackoff.Ticks * (1L << Math.Min(attempt - 1, 10)));
        Log.Restarting(_logger, r.Key, attempt, _options.RestartMaxAttempts, delay);
        WorkerRestarting?.Invoke(r, attempt);
        var model = r.Model ?? "";
        var spec = new SpawnSpec(type, model, r.Device ?? "cpu", RestartOnFailure: true)
        {
            ModelId = r.ModelId ?? Rbee.Models.ModelFiles.IdOf(model),
            StartedBy = r.StartedBy,
        };
        var pending = new PendingRestart(spec, attempt, lease);
        pending.Timer = _time.CreateTimer(_ => Post(new RestartDueCommand(pending)), null, delay, Timeout.InfiniteTimeSpan);
        _restarts.Add(pending);
    }

    private void RestartDue(PendingRestart p)
    {
        if (!_restarts.Remove(p)) return; // cancelled meanwhile
        p.Timer?.Dispose();
        Spawn(new SpawnCommand(p.Spec, p.Attempt, p.Lease, null, CancellationToken.None));
    }

    /// <summary>Drops the pending on_failure restart on <paramref name="port"/> (a stop for a worker in its backoff),
    /// releasing its port; the worker type whose restart it was, null when none is pending there.</summary>
    private string? CancelRestart(int port)
    {
        var p = _restarts.Find(r => r.Lease.Port == port);
        if (p is null) return null;
        _restarts.Remove(p);
        p.Timer?.Dispose();
        p.Lease.Dispose();
        Log.RestartCancelled(_logger, $"{p.Spec.Type.Name}/{port}");
        return p.Spec.Type.Name;
    }

    private void CancelRestarts()
    {
        _restartsCancelled = true;
        foreach (var p in _restarts)
        {
            p.Timer?.Dispose();
            p.Lease.Dispose();
        }
        _restarts.Clear();
    }

    // ---- the scan ----

    /// <summary>One pass over the tree: adopt, sample, detect readiness and exits, publish.</summary>
    private void ScanOnce()
    {
        if (Tree is not null)
        {
            foreach (var name in Tree.Enumerate())
                if (!_tracked.ContainsKey(name)) AdoptOrClear(name);
        }
        else if (!_groupsAdopted)
        {
            _groupsAdopted = true;
            AdoptProcessGroups();
        }

        var uptime = KernelFile.TryRead("/proc/uptime", out var u) ? ProcFiles.Uptime(u) : null;
        var gpuSample = Volatile.Read(ref _gpuLatest);
        var gpu = gpuSample?.VramByPid;
        List<WorkerChange>? changes = null;
        List<Tracked>? gone = null;
        var notify = false;
        foreach (var t in _tracked.Values)
        {
            var pids = PidsOf(t);
            if (pids.Count == 0)
            {
                // cgroup.procs hides tasks that are still exiting, while cgroup.events says "populated 1" and rmdir
                // answers EBUSY until they are gone: not gone yet. The "populated 0" write to cgroup.events wakes a scan.
                if (t.Record.CgroupPath is { } cgroup && CgroupTree.IsPopulated(cgroup)) continue;
                // Empty before its process entered (a spawn in progress) is not an exit; empty after, or after the
                // child we started has exited, is.
                var childGone = t.Child is { } c && HasExited(c);
                if (t.SeenPopulated || childGone || (t.Child is null && t.Record.Adopted)) (gone ??= []).Add(t);
                continue;
            }
            t.SeenPopulated = true;
            if (t.Killed && t.Record.CgroupPath is { } killedCgroup) CgroupTree.Kill(killedCgroup);
            var r = t.Record;
            var main = MainPidOf(r.MainPid, pids);
            var state = StateOf(t, pids);
            if (state != r.State)
            {
                Log.StateChanged(_logger, r.Key, r.State, state);
                (changes ??= []).Add(new WorkerStateChanged(0, r.Key, r.State, state));
            }
            if (r.Stats is null) notify = true;
            if (t.StartTicksPid != main)
            {
                t.StartTicks = KernelFile.TryReadProc(main, "stat", out var st) ? ProcFiles.Stat(st)?.StartTicks : null;
                t.StartTicksPid = main;
            }
            var f = _sampler.Sample(t.Source, pids, ref t.Baseline);
            var stats = new ProcessStats
            {
                Pid = main,
                Group = r.Name.WorkerType,
                Instance = t.Instance,
                Port = r.Port,
                State = state,
                Model = r.Model,
                Device = r.Device,
                CpuPct = f.CpuPct,
                RssMb = f.RssMb,
                IoReadBps = f.IoReadBps,
                IoWriteBps = f.IoWriteBps,
                UptimeS = WorkerSampler.UptimeS(uptime, t.StartTicks),
                GpuUtilPct = null,
                VramMb = WorkerSampler.VramMb(gpu, pids),
                TotalVramMb = gpuSample?.TotalVramMb,
                WorkerId = r.WorkerId,
                ModelId = r.ModelId,
                StartedBy = r.StartedBy,
            };
            t.Record = r with { State = state, MainPid = main, Pids = SamePids(r.Pids, pids) ? r.Pids : [.. pids], Stats = stats };
        }
        if (++_scansSinceLogCheck >= 10)
        {
            _scansSinceLogCheck = 0;
            foreach (var t in _tracked.Values) RotateLog(t.Record);
        }
        try
        {
            if (gone is not null)
                foreach (var t in gone)
                {
                    var exit = Detach(t);
                    (changes ??= []).Add(new WorkerLeft(0, t.Record.Key, exit));
                    WorkerExited?.Invoke(t.Record, exit);
                }
            Publish(changes is null ? [] : [.. changes], notify || changes is not null);
        }
        finally
        {
            // Only now, with the port released and the view published without them, do waiters on these exits go on;
            // and they go on even when this scan failed: these workers are no longer tracked, nothing would answer later.
            if (gone is not null)
                foreach (var t in gone) t.Exited.TrySetResult(t.Exit ?? new WorkerExit(null, t.StopRequested));
        }
    }

    private void Publish(ImmutableArray<WorkerChange> changes, bool notify)
    {
        var version = _current.Version + 1;
        if (!changes.IsEmpty) changes = [.. changes.Select(c => c with { Version = version })];
        var workers = ImmutableArray.CreateBuilder<WorkerRecord>(_tracked.Count);
        foreach (var t in _tracked.Values) workers.Add(t.Record);
        Volatile.Write(ref _current, new WorkerSnapshot(version, workers.MoveToImmutable(), changes));
        Interlocked.Exchange(ref _swapped, null)?.TrySetResult();
        if (!notify) return;
        try { Changed?.Invoke(); }
        catch (Exception e) { Log.ScanFailed(_logger, e); }
    }

    private static bool SamePids(ImmutableArray<int> held, List<int> now)
    {
        if (held.Length != now.Count) return false;
        for (var i = 0; i < now.Count; i++)
            if (held[i] != now[i]) return false;
        return true;
    }

    /// <summary>How long <see cref="Detach"/> waits for an emptied worker's process to be reaped (microseconds in practice).</summary>
    private static readonly TimeSpan ExitCodeWait = TimeSpan.FromSeconds(1);

    private static bool HasExited(Process p)
    {
        try { return p.HasExited; }
        catch (InvalidOperationException) { return true; }
    }

    private static List<int> PidsOf(Tracked t)
    {
        if (t.Source.ProcsFile is { } procs) return KernelFile.TryRead(procs, out var text) ? ProcFiles.Pids(text) : [];
        if (t.Record.MainPid is not { } leader || (t.Child is { } c && HasExited(c))) return [];
        return ProcessGroups.Members(leader);
    }

    private static string StateOf(Tracked t, List<int> pids)
    {
        if (t.StopRequested) return WorkerStates.Stopping;
        if (t.Record.State == WorkerStates.Ready || t.HealthOk) return WorkerStates.Ready;
        return ReadyFile.NamesOneOf(t.Record.ReadyFile, pids) ? WorkerStates.Ready : WorkerStates.Starting;
    }

    private static int MainPidOf(int? known, List<int> pids)
    {
        if (known is { } m && pids.Contains(m)) return m;
        // The process whose parent is outside the cgroup is the one the hive (or its shim) started.
        foreach (var pid in pids)
            if (KernelFile.TryReadProc(pid, "stat", out var s) && ProcFiles.Stat(s) is { } st && !pids.Contains(st.Ppid)) return pid;
        return pids.Min();
    }

    private void RotateLog(WorkerRecord r)
    {
        try
        {
            if (LogRotator.RotateIfLarger(r.LogPath, _options.LogMaxBytes) is { } bytes) Log.LogRotated(_logger, r.Key, bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.LogRotateFailed(_logger, r.Key, e.Message);
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
        Adopt(name, path, pids, MainPidOf(null, pids));
    }

    // ---- process-group mode: the group file is the worker's trace a restarted hive finds ----

    /// <summary>Name of the file in a worker's directory that holds its process group leader's pid and start time
    /// (process-group mode: there is no cgroup to find it by).</summary>
    private const string GroupFile = "process-group";

    private bool _groupsAdopted;

    private static void WriteGroupFile(string workerDirectory, int leader)
    {
        if (KernelFile.TryReadProc(leader, "stat", out var stat) && ProcFiles.Stat(stat) is { } st)
            File.WriteAllText(Path.Combine(workerDirectory, GroupFile), $"{leader} {st.StartTicks}\n");
    }

    /// <summary>
    /// A restarted hive without cgroups re-adopts the workers its predecessor started: each worker directory's group file
    /// names a leader pid and its start time; a live process with that pid and that start time (not a recycled pid) is
    /// the worker, its process group the worker's processes. Group files of workers that are gone are removed.
    /// </summary>
    private void AdoptProcessGroups()
    {
        var root = Path.Combine(_options.ResolvedStateDirectory, "workers", _options.CgroupRoot);
        if (!Directory.Exists(root)) return;
        foreach (var typeDir in Directory.EnumerateDirectories(root))
            foreach (var portDir in Directory.EnumerateDirectories(typeDir))
            {
                var file = Path.Combine(portDir, GroupFile);
                if (!File.Exists(file) || !int.TryParse(Path.GetFileName(portDir), NumberStyles.None, CultureInfo.InvariantCulture, out var port)) continue;
                var name = new WorkerCgroupName(Path.GetFileName(typeDir), port);
                if (_tracked.ContainsKey(name)) continue;
                var parts = (ProcFiles.TryRead(file) ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                var alive = parts.Length == 2
                    && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var leader)
                    && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
                    && KernelFile.TryReadProc(leader, "stat", out var stat) && ProcFiles.Stat(stat) is { } st && st.StartTicks == ticks
                    && ProcessGroups.Members(leader) is { Count: > 0 } pids
                    ? (Leader: leader, Pids: pids) : ((int Leader, List<int> Pids)?)null;
                if (alive is { } a) Adopt(name, null, a.Pids, a.Leader);
                else File.Delete(file);
            }
    }

    private void Adopt(WorkerCgroupName name, string? path, List<int> pids, int main)
    {
        _catalog.TryGet(name.WorkerType, out var type);
        var lease = _ports.TryLock(name.Port);
        if (lease is null) Log.AdoptedPortLocked(_logger, name.Key);
        var os = AdoptedWorker.Read(main);
        var exited = new TaskCompletionSource<WorkerExit>(TaskCreationOptions.RunContinuationsAsynchronously);
        var directory = WorkerDirectoryOf(name);
        var readyDirectory = ReadyDirectoryOf(name);
        var ready = ReadyFile.NamesOneOf(Path.Combine(readyDirectory, WorkerFiles.Ready), pids);
        var record = new WorkerRecord
        {
            Name = name,
            Generation = ++_generation,
            CgroupPath = path,
            WorkerDirectory = directory,
            ReadyDirectory = readyDirectory,
            Type = type,
            State = ready ? WorkerStates.Ready : WorkerStates.Starting,
            Model = os.Model,
            ModelId = os.ModelId,
            StartedBy = os.StartedBy,
            Device = os.Device,
            WorkerId = os.WorkerId,
            RestartOnFailure = os.RestartOnFailure,
            Adopted = true,
            MainPid = main,
            Exited = exited.Task,
        };
        var t = new Tracked(record, new SampleSource(path), lease, exited) { SeenPopulated = true };
        _tracked.Add(name, t);
        Watch(t);
        // Not ready by its file: ask its health endpoint (an external engine, or a worker adopted mid-load).
        if (!ready) StartHealthProbe(t);
        Log.Adopted(_logger, name.Key, main, record.Model ?? "?", record.State);
    }

    private void Watch(Tracked t)
    {
        if (_inotify is null) return;
        var r = t.Record;
        Directory.CreateDirectory(r.ReadyDirectory);
        t.DirectoryWatch = _inotify.Add(r.ReadyDirectory, Libc.IN_MOVED_TO | Libc.IN_CLOSE_WRITE,
            (name, _) => { if (name is null || name == WorkerFiles.Ready) Kick(); });
        if (r.CgroupPath is not null)
            t.EventsWatch = _inotify.Add(Path.Combine(r.CgroupPath, "cgroup.events"), Libc.IN_MODIFY, (_, _) => Kick());
    }

    private void Unwatch(Tracked t)
    {
        _inotify?.Remove(t.EventsWatch);
        _inotify?.Remove(t.DirectoryWatch);
        t.EventsWatch = t.DirectoryWatch = -1;
    }

    /// <summary>Stops tracking an emptied worker: watches, timers, cgroup directory, ready file, and its port (released,
    /// or held for its restart) before it leaves the view. Each step that fails is logged and the next still runs: a
    /// worker that left <c>_tracked</c> always has its port dealt with and its exit recorded.</summary>
    private WorkerExit Detach(Tracked t)
    {
        _tracked.Remove(t.Record.Name);
        var key = t.Record.Key;
        int? exitCode = null;
        var exit = new WorkerExit(null, t.StopRequested);
        try
        {
            DetachStep(key, "unwatch", () => Unwatch(t));
            DetachStep(key, "cancel its health probe", t.Lifetime.Cancel);
            DetachStep(key, "disarm its kill timer", () => t.KillTimer?.Dispose());
            if (t.Record.CgroupPath is { } path) DetachStep(key, "remove its cgroup", () => CgroupTree.TryRemove(path));
            else DetachStep(key, "delete its process-group file", () => File.Delete(Path.Combine(t.Record.WorkerDirectory, GroupFile)));
            DetachStep(key, "delete its ready file", () => File.Delete(t.Record.ReadyFile));
            if (t.Child is { } child)
                DetachStep(key, "read its exit code", () =>
                {
                    // The cgroup empties before the kernel tells the parent: do_exit() leaves the cgroup (cgroup_exit)
                    // before it becomes a zombie and sends SIGCHLD (exit_notify), so "populated 0" can wake this scan while
                    // the runtime cannot reap the child yet, and a third of failed spawns said "exit code unknown" (issue
                    // 12 §4). Its cgroup is empty, so it is exiting: wait the moment that takes, bounded for a child that
                    // left its cgroup and lives on.
                    try { if (HasExited(child) || child.WaitForExit(ExitCodeWait)) exitCode = child.ExitCode; }
                    finally { child.Dispose(); }
                });
        }
        finally
        {
            try { ReleaseOrRestart(t); }
            catch (Exception e)
            {
                // No restart then: the port must not stay locked by a worker that left.
                Log.DetachStepFailed(_logger, key, "schedule its restart", e);
                t.Lease?.Dispose();
                t.Lease = null;
            }
            t.Exit = exit = new WorkerExit(exitCode, t.StopRequested);
        }
        Log.WorkerGone(_logger, key, t.Record.MainPid ?? 0, exitCode?.ToString(CultureInfo.InvariantCulture) ?? "unknown", t.StopRequested);
        return exit;
    }

    private void DetachStep(string worker, string step, Action action)
    {
        try { action(); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Log.DetachStepFailed(_logger, worker, step, e);
        }
    }

    public async Task StopAsync()
    {
        EndLoop();
        if (_loop is not null) await _loop.ConfigureAwait(false);
    }

    /// <summary>No more ticks or commands; the loop ends after what it is doing now (commands queued are answered).</summary>
    private void EndLoop()
    {
        _tick?.Dispose();
        _gpuTick?.Dispose();
        _stop.Cancel();
        // Wakes the loop (it waits on the channel alone); commands already queued are answered "stopping".
        _commands.Writer.TryComplete();
    }

    /// <summary>How long <see cref="Dispose"/> waits for the loop to end before it leaves the loop's state alone.</summary>
    internal static readonly TimeSpan DisposeBound = TimeSpan.FromSeconds(10);

    /// <summary>Like the hive process ending: watches, timers and port locks go, the workers keep running. Ends the loop
    /// first (as <see cref="StopAsync"/>) and waits for it, bounded, before it touches the loop's state; idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        EndLoop();
        if (_loop is { } loop && !loop.Wait(DisposeBound))
        {
            // Still busy (a wedged step): its state is its own; what it holds goes with the process.
            Log.DisposeTimedOut(_logger, DisposeBound);
            return;
        }
        foreach (var t in _tracked.Values)
        {
            if (_sharedInotify is not null) Unwatch(t);
            t.Lifetime.Cancel();
            t.KillTimer?.Dispose();
            t.Lease?.Dispose();
            t.Lease = null;
        }
        foreach (var p in _restarts)
        {
            p.Timer?.Dispose();
            p.Lease.Dispose();
        }
        _restarts.Clear();
        if (_sharedInotify is null) _inotify?.Dispose();
        if (_ownsHealth) _health.Dispose();
    }

    /// <summary>The loop's working state of one worker: never seen outside the loop.</summary>
    private sealed class Tracked(WorkerRecord record, SampleSource source, PortLease? lease, TaskCompletionSource<WorkerExit> exited)
    {
        public WorkerRecord Record = record;
        public readonly SampleSource Source = source;
        public readonly string Instance = record.Port.ToString(CultureInfo.InvariantCulture);
        public readonly TaskCompletionSource<WorkerExit> Exited = exited;
        public readonly CancellationTokenSource Lifetime = new();
        public PortLease? Lease = lease;
        public Process? Child;
        public SampleBaseline Baseline;
        public bool SeenPopulated;
        public bool StopRequested;

        /// <summary>Set once the worker was killed: a process that still shows up in its cgroup after that (it entered
        /// late) is killed again by the next scan.</summary>
        public bool Killed;
        public bool HealthOk;
        public int StartTicksPid;
        public long? StartTicks;
        public int EventsWatch = -1;
        public int DirectoryWatch = -1;
        public ITimer? KillTimer;
        public WorkerExit? Exit;
    }

    private sealed class PendingRestart(SpawnSpec spec, int attempt, PortLease lease)
    {
        public SpawnSpec Spec { get; } = spec;
        public int Attempt { get; } = attempt;
        public PortLease Lease { get; } = lease;
        public ITimer? Timer { get; set; }
    }

    /// <summary>Type, then port: the order of the view and of every frame.</summary>
    private sealed class NameOrder : IComparer<WorkerCgroupName>
    {
        public static readonly NameOrder Instance = new();

        public int Compare(WorkerCgroupName x, WorkerCgroupName y)
        {
            var byType = string.CompareOrdinal(x.WorkerType, y.WorkerType);
            return byType != 0 ? byType : x.Port.CompareTo(y.Port);
        }
    }

    /// <summary>One nvidia-smi sample: VRAM per pid and the total of every GPU (null when not read).</summary>
    private sealed record GpuSample(IReadOnlyDictionary<int, long> VramByPid, long? TotalVramMb);

    private abstract record Command;
    private sealed record ScanCommand(TaskCompletionSource? Done) : Command;
    private sealed record SpawnCommand(SpawnSpec Spec, int Attempt, PortLease? Lease, TaskCompletionSource<WorkerRecord>? Reply, CancellationToken Ct) : Command;
    private sealed record StopCommand(WorkerCgroupName Name, long Generation, TimeSpan Grace) : Command;
    private sealed record KillCommand(WorkerCgroupName Name, long Generation, TimeSpan Grace) : Command;
    private sealed record HealthyCommand(WorkerCgroupName Name, long Generation) : Command;
    private sealed record RestartDueCommand(PendingRestart Restart) : Command;
    private sealed record KillAllCommand(TaskCompletionSource Done) : Command;
    private sealed record CancelRestartsCommand(TaskCompletionSource Done) : Command;
    private sealed record CancelRestartCommand(int Port, TaskCompletionSource<string?> Done) : Command;

    private static partial class Log
    {
        [LoggerMessage(EventId = WorkerEventIds.CgroupMode, Level = LogLevel.Information, Message = "Watching workers in cgroup v2 tree {Root}")]
        public static partial void CgroupMode(ILogger logger, string root);

        [LoggerMessage(EventId = WorkerEventIds.ProcessGroupMode, Level = LogLevel.Warning, Message = "No writable cgroup v2 ({Reason}); falling back to tracking the process groups the hive starts (re-adopted after a hive restart by their group files; an exit is seen at the next scan)")]
        public static partial void ProcessGroupMode(ILogger logger, string reason);

        [LoggerMessage(EventId = WorkerEventIds.StateChanged, Level = LogLevel.Information, Message = "Worker {Worker}: {OldState} -> {NewState}")]
        public static partial void StateChanged(ILogger logger, string worker, string oldState, string newState);

        [LoggerMessage(EventId = WorkerEventIds.WorkerGone, Level = LogLevel.Information, Message = "Worker {Worker} (pid {Pid}) gone, exit code {ExitCode}, requested stop: {Requested}")]
        public static partial void WorkerGone(ILogger logger, string worker, int pid, string exitCode, bool requested);

        [LoggerMessage(EventId = WorkerEventIds.Adopted, Level = LogLevel.Information, Message = "Re-adopted worker {Worker} (pid {Pid}, model {Model}), {State}")]
        public static partial void Adopted(ILogger logger, string worker, int pid, string model, string state);

        [LoggerMessage(EventId = WorkerEventIds.AdoptedPortLocked, Level = LogLevel.Warning, Message = "Re-adopted worker {Worker}: its port lock is held by another process; is another hive using the same cgroup root?")]
        public static partial void AdoptedPortLocked(ILogger logger, string worker);

        [LoggerMessage(EventId = WorkerEventIds.ScanFailed, Level = LogLevel.Error, Message = "Worker scan failed")]
        public static partial void ScanFailed(ILogger logger, Exception error);

        [LoggerMessage(EventId = WorkerEventIds.DisposeTimedOut, Level = LogLevel.Warning, Message = "The worker scan loop did not end within {Bound}; leaving its watches and port locks to the process exit")]
        public static partial void DisposeTimedOut(ILogger logger, TimeSpan bound);

        [LoggerMessage(EventId = WorkerEventIds.DetachStepFailed, Level = LogLevel.Warning, Message = "Worker {Worker} left: could not {Step}")]
        public static partial void DetachStepFailed(ILogger logger, string worker, string step, Exception error);

        [LoggerMessage(EventId = WorkerEventIds.LogRotated, Level = LogLevel.Information, Message = "Rotated the log of worker {Worker} at {Bytes} bytes")]
        public static partial void LogRotated(ILogger logger, string worker, long bytes);

        [LoggerMessage(EventId = WorkerEventIds.LogRotateFailed, Level = LogLevel.Warning, Message = "Could not rotate the log of worker {Worker}: {Reason}")]
        public static partial void LogRotateFailed(ILogger logger, string worker, string reason);

        [LoggerMessage(EventId = WorkerEventIds.Started, Level = LogLevel.Information, Message = "Started worker {Worker} pid {Pid} model {Model} as {ModelId} in {Cgroup}, log {LogPath}")]
        public static partial void Started(ILogger logger, string worker, int pid, string model, string modelId, string cgroup, string logPath);

        [LoggerMessage(EventId = WorkerEventIds.GraceExpired, Level = LogLevel.Warning, Message = "Worker {Worker} still running {Grace} after SIGTERM; killing its cgroup")]
        public static partial void GraceExpired(ILogger logger, string worker, TimeSpan grace);

        [LoggerMessage(EventId = WorkerEventIds.Restarting, Level = LogLevel.Warning, Message = "Worker {Worker} failed; restart {Attempt} of {Max} in {Delay}")]
        public static partial void Restarting(ILogger logger, string worker, int attempt, int max, TimeSpan delay);

        [LoggerMessage(EventId = WorkerEventIds.RestartCancelled, Level = LogLevel.Information, Message = "Worker {Worker}: its pending restart was cancelled by a stop")]
        public static partial void RestartCancelled(ILogger logger, string worker);

        [LoggerMessage(EventId = WorkerEventIds.RestartFailed, Level = LogLevel.Error, Message = "Could not restart worker {Worker}: {Reason}")]
        public static partial void RestartFailed(ILogger logger, string worker, string reason);
    }
}
