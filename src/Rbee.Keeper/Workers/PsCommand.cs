using System.Text.Json;
using Rbee.Contracts.Wire;
using Rbee.Keeper.Cli;
using Rbee.Keeper.Connection;
using Rbee.Keeper.Output;
using Spectre.Console;

namespace Rbee.Keeper.Workers;

public sealed record PsRequest(ControlEndpoint Endpoint, bool Json);

/// <summary><c>rbee ps</c>: every worker of the queen's <c>/v1/cluster</c>, with where it runs and how busy it is.</summary>
public sealed class PsCommand(KeeperIo io, TimeProvider clock)
{
    public async Task<int> RunAsync(PsRequest request, CancellationToken ct)
    {
        using var queen = QueenClient.Create(request.Endpoint);
        var rows = await ReadAsync(queen, ct);
        if (request.Json)
        {
            io.Output.WriteLine(JsonSerializer.Serialize(new PsOutput(rows), KeeperJsonContext.Default.PsOutput));
            return ExitCodes.Ok;
        }
        io.Out.Write(Render(rows, clock.GetUtcNow()));
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Every worker: the queen's <c>/v1/cluster</c>, or with <c>--hive-url</c> the hive's <c>worker_list</c> (its rows have
    /// none of the queen's fields: no in-flight count, no idle timeout; the URL is the hive's host with the port).
    /// </summary>
    public static async Task<List<WorkerRow>> ReadAsync(QueenClient client, CancellationToken ct)
    {
        if (!client.IsHive) return Rows(await client.ClusterAsync(ct));
        var hive = await client.HiveIdAsync(ct);
        var workers = new List<ProcessStats>();
        var outcome = await client.RunJobAsync(JobBody.Of(JobOperations.WorkerList), _ => { }, data =>
        {
            if (!JobEvents.TryRead(data, out _) && JsonSerializer.Deserialize(data, Rbee.Contracts.Json.RbeeJsonContext.Default.ProcessStats) is { } w) workers.Add(w);
        }, ct);
        if (!outcome.Succeeded) throw new CliFailure($"listing the workers of {hive} failed: {outcome.Error ?? outcome.Marker}");
        var host = client.BaseUrl.Host;
        return Rows(new ClusterView(0, [new HiveView(hive, CliFailure.Display(client.BaseUrl), null, HiveState.Online, null, null, null, null, [], null,
            workers.Select(w => w with { Url = w.Url ?? $"http://{host}:{w.Port}" }).ToList())]));
    }

    /// <summary>The workers of the view, hive by hive, by port.</summary>
    public static List<WorkerRow> Rows(ClusterView view) =>
        view.Hives.OrderBy(h => h.HiveId, StringComparer.Ordinal)
            .SelectMany(h => h.Workers.OrderBy(w => w.Port).Select(w => new WorkerRow(
                h.HiveId, h.State.ToWire(), ModelName(w), w.Model, w.Url, w.Port, w.Pid, w.State, w.Device, w.InFlight,
                w.CpuPct, w.RssMb, w.VramMb, w.UptimeS, w.StartedBy, w.LastUsedAt, w.IdleStopAt)))
            .ToList();

    /// <summary>The id the worker answers to, else its file's name without <c>.gguf</c>.</summary>
    public static string? ModelName(ProcessStats w) =>
        w.ModelId ?? (w.Model is { } path ? Path.GetFileNameWithoutExtension(path) : null);

    public static Table Render(IReadOnlyList<WorkerRow> rows, DateTimeOffset now)
    {
        var table = new Table().NoBorder().AddColumns("MODEL", "HIVE", "URL", "STATE", "DEVICE", "IN FLIGHT", "CPU %", "MEMORY", "IDLE / STOPS");
        foreach (var w in rows)
        {
            table.AddRow(
                Markup.Escape(w.Model ?? "-"),
                Markup.Escape(w.HiveId),
                Markup.Escape(w.Url ?? $":{w.Port}"),
                Markup.Escape(w.State),
                Markup.Escape(w.Device ?? "-"),
                Units.Number(w.InFlight),
                Units.Percent(w.CpuPct),
                Memory(w),
                Markup.Escape(Idle(w, now)));
        }
        if (rows.Count == 0) table.Caption("no workers: `rbee run MODEL` starts one on demand");
        return table;
    }

    private static string Memory(WorkerRow w)
    {
        var parts = new List<string>();
        if (w.RssMb is { } rss) parts.Add(Units.Bytes(rss << 20));
        if (w.VramMb is { } vram) parts.Add(Units.Bytes(vram << 20) + " VRAM");
        return parts.Count == 0 ? "-" : string.Join(", ", parts);
    }

    /// <summary>"busy" while it serves, else how long it has been idle, and when the idle timeout stops it.</summary>
    public static string Idle(WorkerRow w, DateTimeOffset now)
    {
        var idle = w.InFlight is > 0 ? "busy" : w.LastUsedAt is { } used ? $"idle {Units.Duration(now - used)}" : "-";
        return w.IdleStopAt is { } stop ? $"{idle}, stops in {Units.Duration(stop - now)}" : idle;
    }
}
