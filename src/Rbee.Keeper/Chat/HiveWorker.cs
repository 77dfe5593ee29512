using Rbee.Contracts.Wire;
using Rbee.Keeper.Connection;
using Rbee.Keeper.Workers;
using Rbee.Platform.Security;

namespace Rbee.Keeper.Chat;

/// <summary>
/// <c>rbee run --hive-url</c>, with no queen: a ready worker of the model on that hive, or one started there for it
/// (a <c>worker_spawn</c> job, its narration as status lines); the chat then talks to the worker itself, with the
/// worker's key (<see cref="WorkerApiKey"/>: derived from the cluster token, as the queen does when it forwards).
/// </summary>
public static class HiveWorker
{
    public static async Task<(Uri Url, string? Key)> ResolveAsync(Uri hiveUrl, string model, Action<string> onStatus, CancellationToken ct)
    {
        using var hive = QueenClient.Create(new ControlEndpoint(hiveUrl, IsHive: true));
        var token = ClusterTokenStore.Read();
        var running = (await PsCommand.ReadAsync(hive, ct)).FirstOrDefault(w => w.Model == model && w.State == WorkerStates.Ready && w.Url is not null);
        if (running is not null) return (new Uri(running.Url!), KeyOf(token, running.HiveId, running.Port));

        onStatus($"starting a worker for {model} on {CliFailure.Display(hiveUrl)}");
        WorkerReady? ready = null;
        var outcome = await hive.RunJobAsync(JobBody.Of(JobOperations.WorkerSpawn, ("model", model)), onStatus,
            data => { if (JobEvents.TryRead(data, out var e) && e is WorkerReady r) ready = r; }, ct);
        if (!outcome.Succeeded || ready is null)
            throw new CliFailure($"{model} did not start on {CliFailure.Display(hiveUrl)}: {outcome.Error ?? "no ready event"}");
        return (new Uri($"http://{hiveUrl.Host}:{ready.Port}"), KeyOf(token, await hive.HiveIdAsync(ct), ready.Port));
    }

    private static string? KeyOf(string? token, string hiveId, int port) => token is null ? null : WorkerApiKey.Derive(token, hiveId, port);
}
