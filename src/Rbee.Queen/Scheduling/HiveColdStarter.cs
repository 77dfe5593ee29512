using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Queen.Audit;
using Rbee.Queen.Cluster;
using Rbee.Queen.Jobs;

namespace Rbee.Queen.Scheduling;

/// <summary>
/// A cold start (DESIGN.md "Scheduling and routing"): estimates the memory the model's worker needs from its GGUF
/// metadata, picks the device with the most free memory that fits (<see cref="IPlacementPolicy"/>), starts the worker
/// through the hive's <c>worker_spawn</c> job, and returns once the worker is ready in the queen's own view (awaited on
/// the view's changes, never polled). Memory promised to a start in flight is held back from the device's free memory,
/// so two cold starts at once do not both count the same free gigabytes. A hive that fails the start is left out of the
/// next try. Each try is a line of the audit log (<c>worker_spawn</c>, the requester as actor), and so is its failure.
/// </summary>
public sealed partial class HiveColdStarter(
    ClusterRegistry registry,
    ModelIndex index,
    HiveJobClient jobs,
    IPlacementPolicy placement,
    Func<ModelInfo, string, long> estimate,
    SchedulingOptions options,
    AuditLog audit,
    ILogger<HiveColdStarter> logger) : IColdStarter
{
    private readonly ConcurrentDictionary<(string HiveId, string Device), long> _reserved = new();

    public async Task StartAsync(ModelPresence model, Actor requester, IWaitObserver progress, CancellationToken ct)
    {
        var excluded = new HashSet<(string, string)>();
        string? lastFailure = null;
        for (var attempt = 0; attempt < options.MaxSpawnAttempts; attempt++)
        {
            var presence = index.Current.Find(model.Id) ?? model;
            var devices = Devices(presence, excluded);
            if (placement.Place(devices) is not { } chosen)
            {
                if (lastFailure is not null) break;
                throw SchedulingException.Unavailable("insufficient_memory", MostFreeMemoryPlacement.NothingFits(model.Id, devices));
            }
            var key = (chosen.HiveId, chosen.Device);
            var target = $"{chosen.HiveId} {model.Id} {chosen.Device}";
            _reserved.AddOrUpdate(key, chosen.RequiredBytes, (_, held) => held + chosen.RequiredBytes);
            try
            {
                progress.SpawnStarted(chosen.HiveId, chosen.Device);
                Log.Begun(logger, model.Id, chosen.HiveId, chosen.Device, chosen.WorkerType, MostFreeMemoryPlacement.Gib(chosen.RequiredBytes),
                    chosen.FreeBytes is { } f ? MostFreeMemoryPlacement.Gib(f) : "unmeasured");
                audit.Write(requester, JobOperations.WorkerSpawn, target, $"cold start: a request needs a {chosen.WorkerType} worker for the model");
                await SpawnAsync(model.Id, chosen, progress, ct).ConfigureAwait(false);
                return;
            }
            catch (JobFailedException e)
            {
                lastFailure = e.Message;
                excluded.Add(key);
                audit.Write(requester, JobOperations.WorkerSpawn + " failed", target, e.Message);
                Log.AttemptFailed(logger, model.Id, chosen.HiveId, chosen.Device, e.Message);
            }
            finally
            {
                _reserved.AddOrUpdate(key, 0, (_, held) => held - chosen.RequiredBytes);
            }
        }
        throw SchedulingException.Unavailable("spawn_failed", $"could not start a worker for model '{model.Id}': {lastFailure}");
    }

    private async Task SpawnAsync(string model, DeviceCandidate chosen, IWaitObserver progress, CancellationToken ct)
    {
        var hive = registry.Current.Find(chosen.HiveId) ?? throw new JobFailedException($"hive {chosen.HiveId} left the cluster view");
        var body = JsonSerializer.Serialize(
            new WorkerSpawnRequest(JobOperations.WorkerSpawn, model, chosen.WorkerType, chosen.Device) { StartedBy = WorkerOrigins.Queen },
            RbeeJsonContext.Default.WorkerSpawnRequest);
        var sse = await jobs.PostAsync(hive, body, options.SpawnPostTimeout, ct).ConfigureAwait(false);

        // The start ends with the hive's answer, but never waits on a hive that is gone (its stream may hang open on a
        // dead link: liveness says so) nor longer than SpawnTimeout.
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(options.SpawnTimeout);
        using var hiveGone = new HiveGoneWatch(registry, hive, bound);
        int? port;
        try
        {
            // The hive's "spawned" event splits the start in two for the requests' timelines: process started, then loading.
            port = await jobs.RelayAsync(chosen.HiveId, sse, line => progress.SpawnProgress(chosen.HiveId, line), data =>
            {
                if (JobEvents.TryRead(data, out var e) && e is WorkerSpawned spawned) progress.WorkerSpawned(chosen.HiveId, spawned.Port);
            }, bound.Token).ConfigureAwait(false);
            if (port is not { } p) throw new JobFailedException($"hive {chosen.HiveId} finished the spawn without naming the worker's port");
            // The hive has seen the worker ready; its next frame (sent at once on the change) brings it into the queen's view.
            if (!await registry.WaitForAsync(s => IsReady(s, chosen.HiveId, p), options.MaxWait, bound.Token).ConfigureAwait(false))
                throw new JobFailedException($"hive {chosen.HiveId} reports the worker on port {p} ready, but it did not appear ready in the queen's view within {options.MaxWait.TotalSeconds:0.#} s");
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            await jobs.CancelAsync(sse, options.SpawnPostTimeout).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            throw new JobFailedException(hiveGone.Fired
                ? $"hive {chosen.HiveId} went offline while it started the worker"
                : $"the worker was not ready within {options.SpawnTimeout.TotalSeconds:0.#} s (Scheduling:SpawnTimeout)");
        }
        finally
        {
            await bound.CancelAsync().ConfigureAwait(false);
        }
    }

    private static bool IsReady(ClusterSnapshot snapshot, string hiveId, int port) =>
        snapshot.Find(hiveId) is { } hive && ClusterModels.IsRoutable(hive)
        && hive.Workers.Any(w => w.Port == port && w.State == WorkerStates.Ready);

    /// <summary>Every device of every hive holding the model where its worker type can run, with what is free there now.</summary>
    private List<DeviceCandidate> Devices(ModelPresence presence, HashSet<(string, string)> excluded)
    {
        var list = new List<DeviceCandidate>();
        foreach (var disk in presence.OnDisk)
        {
            var hive = disk.Hive;
            var required = estimate(disk.Model, disk.WorkerType);
            foreach (var device in hive.Capabilities?.Devices ?? [])
            {
                if (!disk.DeviceKinds.Contains(device.Kind) || excluded.Contains((hive.HiveId, device.Id))) continue;
                var free = ClusterModels.FreeBytes(hive, device.Id);
                if (free is { } f && _reserved.TryGetValue((hive.HiveId, device.Id), out var held)) free = Math.Max(0, f - held);
                list.Add(new DeviceCandidate(hive.HiveId, device.Id, disk.WorkerType, free, required));
            }
        }
        return list;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = QueenEventIds.ColdStartBegun, Level = LogLevel.Information, Message = "Starting a worker for model {Model} on hive {HiveId} {Device} ({WorkerType}): needs {Needed}, free {Free}")]
        public static partial void Begun(ILogger logger, string model, string hiveId, string device, string workerType, string needed, string free);

        [LoggerMessage(EventId = QueenEventIds.ColdStartAttemptFailed, Level = LogLevel.Warning, Message = "Starting a worker for model {Model} on hive {HiveId} {Device} failed: {Reason}")]
        public static partial void AttemptFailed(ILogger logger, string model, string hiveId, string device, string reason);
    }
}
