using System.Text.Json;
using Rbee.Contracts.Wire;
using Rbee.Keeper.Cli;
using Rbee.Keeper.Connection;
using Rbee.Keeper.Models;
using Rbee.Keeper.Output;

namespace Rbee.Keeper.Workers;

public sealed record WorkerSpawnRequest(ControlEndpoint Endpoint, string Model, string? HiveId, string Device, string? WorkerType, bool Json);

/// <summary>
/// <c>rbee worker spawn MODEL</c>: the queen's <c>worker_spawn</c> on one hive, ended only when the worker is ready in the
/// queen's view (so a request right after is routed to it). The hive's narration goes to stderr as it comes.
/// </summary>
public sealed class WorkerSpawnCommand(KeeperIo io)
{
    public async Task<int> RunAsync(WorkerSpawnRequest request, CancellationToken ct)
    {
        using var queen = QueenClient.Create(request.Endpoint);
        var hive = request.HiveId is { } named
            ? (queen.IsHive ? throw CliFailure.Usage("rbee worker spawn: --hive chooses a hive at the queen; with --hive-url the hive is that one") : named)
            : (string?)await HiveTargets.ResolveAsync(queen, [], all: false, "worker spawn", ct);
        WorkerReady? ready = null;
        var outcome = await queen.RunJobAsync(
            JobBody.Of(JobOperations.WorkerSpawn, ("hive_id", hive), ("model", request.Model), ("worker_type", request.WorkerType), ("device", request.Device)),
            io.Error.WriteLine,
            data => { if (JobEvents.TryRead(data, out var e) && e is WorkerReady r) ready = r; },
            ct);
        hive ??= await queen.HiveIdAsync(ct);
        if (!outcome.Succeeded) throw new CliFailure($"{request.Model} did not start on {hive}: {outcome.Error ?? outcome.Marker}");
        if (ready is null) throw new CliFailure($"the spawn on {hive} ended without its worker's ready event");
        var worker = new SpawnedWorker(hive, ready.ModelId ?? ready.Model, ready.WorkerType, ready.Port, ready.Pid, ready.WorkerId, ready.Device, ready.LogPath);
        if (request.Json) io.Output.WriteLine(JsonSerializer.Serialize(worker, KeeperJsonContext.Default.SpawnedWorker));
        else io.Output.WriteLine($"started {worker.Model} on {hive}:{worker.Port} (pid {worker.Pid?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"}, {worker.Device ?? request.Device}); log {worker.LogPath ?? "-"}");
        return ExitCodes.Ok;
    }
}
