using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rbee.Hive.Monitoring;

namespace Rbee.Hive.Workers;

/// <summary>
/// Starts and stops workers (DESIGN.md "Workers under the hive", Spawn, Stop, Restart of a worker) by sending commands
/// to <see cref="WorkerMonitor"/>'s loop, the only writer of the worker view, and waiting on what it publishes. It holds
/// no state of its own.
/// </summary>
public sealed partial class WorkerSupervisor(IOptions<WorkerOptions> options, WorkerMonitor monitor, TimeProvider time, ILogger<WorkerSupervisor> logger)
{
    private readonly WorkerOptions _options = options.Value;

    /// <summary>Starts a worker on the lowest free port of its type; returns once its process runs in its cgroup.</summary>
    public Task<WorkerRecord> StartAsync(SpawnSpec spec, CancellationToken ct) => monitor.SpawnAsync(spec, ct);

    /// <summary>
    /// Waits for the worker's ready event (ready file or health, seen by the monitor), its exit, or its load timeout.
    /// A worker that exits or times out is removed (killed, cgroup gone, port freed) and the reason names the tail of
    /// its log. Returns the worker as the view holds it once ready.
    /// </summary>
    public async Task<WorkerRecord> AwaitReadyAsync(WorkerRecord worker, CancellationToken ct)
    {
        var timeout = worker.Type?.Options.LoadTimeout ?? TimeSpan.FromMinutes(5);
        var settled = await monitor.WaitForAsync(s => !s.Holds(worker) || s.Find(worker.Key)!.State == Contracts.Wire.WorkerStates.Ready, timeout, ct)
            .ConfigureAwait(false);
        var now = monitor.Snapshot.Find(worker.Key);
        if (settled && now is not null && now.Generation == worker.Generation) return now;
        if (settled)
        {
            var exit = await worker.Exited.ConfigureAwait(false);
            throw new WorkerOperationException($"worker {worker.Key} exited before it was ready (exit code {exit.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"}); last lines of {worker.LogPath}: {WorkerLauncher.LogTail(worker.LogPath)}");
        }
        Log.LoadTimeout(logger, worker.Key, timeout);
        await StopAsync(worker, TimeSpan.Zero, CancellationToken.None).ConfigureAwait(false);
        throw new WorkerOperationException($"worker {worker.Key} was not ready within its load timeout of {timeout.TotalSeconds:0.#} s and was killed; last lines of {worker.LogPath}: {WorkerLauncher.LogTail(worker.LogPath)}");
    }

    /// <summary>
    /// SIGTERM, <paramref name="grace"/> (default <see cref="WorkerOptions.StopGrace"/>), then <c>cgroup.kill</c>;
    /// returns once the port is free and the worker has left the view, in that order (DESIGN.md "Stop").
    /// </summary>
    public async Task StopAsync(WorkerRecord worker, TimeSpan? grace, CancellationToken ct)
    {
        var g = grace ?? _options.StopGrace;
        if (!monitor.Stop(worker, g))
        {
            // The loop has ended: nothing will signal it, so do not wait grace+kill to report "still has processes".
            if (worker.Exited.IsCompleted) return;
            throw new WorkerOperationException($"worker {worker.Key} was not stopped: the hive is stopping its worker monitor");
        }
        try
        {
            await worker.Exited.WaitAsync(g + _options.KillBound, time, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            var pids = worker.CgroupPath is { } path ? CgroupTree.Pids(path) : [];
            throw new WorkerOperationException($"worker {worker.Key} still has processes {string.Join(",", pids)} {_options.KillBound.TotalSeconds:0.#} s after SIGKILL");
        }
    }

    /// <summary>Stops every worker of this hive in parallel and checks that no process is left in its tree.</summary>
    public async Task<int> StopAllAsync(CancellationToken ct)
    {
        // First, so no restart brings a worker back behind the stop (and the snapshot below holds any that came back).
        await monitor.CancelRestartsAsync().ConfigureAwait(false);
        var workers = monitor.Snapshot.Workers;
        var results = await Task.WhenAll(workers.Select(async w =>
        {
            try
            {
                await StopAsync(w, null, ct).ConfigureAwait(false);
                return true;
            }
            catch (WorkerOperationException ex)
            {
                Log.StopFailed(logger, w.Key, ex.Message);
                return false;
            }
        })).ConfigureAwait(false);
        var tree = monitor.Tree;
        var left = tree?.AllPids() ?? [];
        if (left.Count > 0)
        {
            // A process that slipped in (a worker that forked during the stop): the whole tree goes.
            await monitor.KillAllAsync().ConfigureAwait(false);
            await monitor.ScanAsync(ct).ConfigureAwait(false);
            left = tree?.AllPids() ?? [];
        }
        tree?.Prune(includeRoot: left.Count == 0);
        var stopped = results.Count(r => r);
        Log.StoppedAll(logger, stopped, left.Count);
        if (left.Count > 0) throw new WorkerOperationException($"processes {string.Join(",", left)} are still in {tree?.RootPath}");
        return stopped;
    }

    /// <summary>Drops every pending on_failure restart, and any that a later exit would schedule (one-way: for stopping
    /// the hive).</summary>
    public Task CancelRestartsAsync() => monitor.CancelRestartsAsync();

    /// <summary>A stop of the port of a worker in its on_failure restart backoff: drops that restart (the port is freed).
    /// The worker type whose restart was dropped; null when none was pending.</summary>
    public Task<string?> CancelRestartAsync(int port) => monitor.CancelRestartAsync(port);

    private static partial class Log
    {
        [LoggerMessage(EventId = WorkerEventIds.LoadTimeout, Level = LogLevel.Warning, Message = "Worker {Worker} not ready within {Timeout}; killing it")]
        public static partial void LoadTimeout(ILogger logger, string worker, TimeSpan timeout);

        [LoggerMessage(EventId = WorkerEventIds.StopFailed, Level = LogLevel.Error, Message = "Could not stop worker {Worker}: {Reason}")]
        public static partial void StopFailed(ILogger logger, string worker, string reason);

        [LoggerMessage(EventId = WorkerEventIds.StoppedAll, Level = LogLevel.Information, Message = "Stopped {Count} workers; processes left in the tree: {Left}")]
        public static partial void StoppedAll(ILogger logger, int count, int left);
    }
}
