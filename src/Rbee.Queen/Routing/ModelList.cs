using Rbee.Contracts.Wire;
using Rbee.Queen.Scheduling;

namespace Rbee.Queen.Routing;

/// <summary>
/// <c>GET /v1/models</c> (DESIGN.md "Scheduling and routing"): every model id that a ready or loading worker on an online
/// hive serves, or that an online hive can start, each once, in OpenAI's shape plus rbee's details. A model that only
/// degraded or offline hives have is not listed: a client could not use it now.
/// </summary>
public static class ModelList
{
    public static OpenAiModelList Build(ClusterModels index, WorkerLoads loads, DateTimeOffset now)
    {
        var list = new List<OpenAiModel>();
        foreach (var presence in index.All.OrderBy(p => p.Id, StringComparer.Ordinal))
            if (Entry(presence, loads, now) is { } model) list.Add(model);
        return new OpenAiModelList(list);
    }

    public static OpenAiModel? Entry(ModelPresence presence, WorkerLoads loads, DateTimeOffset now)
    {
        if (!presence.Routable) return null;
        var loaded = presence.Ready.Concat(presence.Starting)
            .OrderBy(w => w.Hive.HiveId, StringComparer.Ordinal).ThenBy(w => w.Worker.Port)
            .Select(w => new ModelLoaded(w.Hive.HiveId, w.Url, w.Worker.State, w.Worker.Device, w.Worker.Port, loads.InFlight(w.Key)))
            .ToList();
        var onDisk = presence.OnDisk.OrderBy(d => d.Hive.HiveId, StringComparer.Ordinal).ToList();
        var available = onDisk.Select(d => new ModelAvailable(d.Hive.HiveId, d.Model.Path, d.Model.SizeBytes) { Source = d.Model.Source }).ToList();
        var file = onDisk.FirstOrDefault()?.Model;
        // created: when the file was written, else when the oldest worker serving it started (OpenAI: a Unix time).
        var created = file is not null
            ? onDisk.Min(d => d.Model.ModifiedAt).ToUnixTimeSeconds()
            : presence.Ready.Concat(presence.Starting).Select(w => now.AddSeconds(-(w.Worker.UptimeS ?? 0))).Min().ToUnixTimeSeconds();
        return new OpenAiModel(presence.Id, created, new RbeeModelDetails(loaded, available, file?.SizeBytes, file?.Quantization,
            file?.ContextLength, file?.Architecture, file?.ParameterCount));
    }
}
