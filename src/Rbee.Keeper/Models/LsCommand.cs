using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Keeper.Cli;
using Rbee.Keeper.Connection;
using Rbee.Keeper.Output;
using Spectre.Console;

namespace Rbee.Keeper.Models;

public sealed record LsRequest(ControlEndpoint Endpoint, string? HiveId, bool Json);

/// <summary><c>rbee ls</c>: every model on every hive, from the catalogs the queen holds (its <c>model_list</c> job).</summary>
public sealed class LsCommand(KeeperIo io)
{
    public async Task<int> RunAsync(LsRequest request, CancellationToken ct)
    {
        using var queen = QueenClient.Create(request.Endpoint);
        var rows = new List<ModelRow>();
        var notes = new List<string>();
        // A hive's own rows carry no hive_id: it is the one asked.
        var hive = queen.IsHive ? await queen.HiveIdAsync(ct) : null;
        if (hive is not null && request.HiveId is not null) throw CliFailure.Usage("rbee ls: --hive chooses a hive at the queen; with --hive-url the hive is that one");
        var outcome = await queen.RunJobAsync(JobBody.Of(JobOperations.ModelList, ("hive_id", request.HiveId)),
            line => { if (line.Contains("no model catalog", StringComparison.Ordinal)) notes.Add(line); },
            data => { if (ReadRow(data, hive) is { } row) rows.Add(row); },
            ct);
        if (!outcome.Succeeded) throw new CliFailure($"listing models failed: {outcome.Error ?? outcome.Marker}");

        if (request.Json)
        {
            io.Output.WriteLine(JsonSerializer.Serialize(new LsOutput(rows), KeeperJsonContext.Default.LsOutput));
            return ExitCodes.Ok;
        }
        io.Out.Write(Render(rows));
        foreach (var note in notes) io.Error.WriteLine(note);
        return ExitCodes.Ok;
    }

    /// <summary>A <c>model_list</c> data row of the queen (a <see cref="ModelInfo"/> with <c>hive_id</c> and <c>hive_state</c>).</summary>
    public static ModelRow? ReadRow(string json, string? hiveId = null)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("id", out _)) return null;
        var m = root.Deserialize(RbeeJsonContext.Default.ModelInfo)!;
        var hive = root.TryGetProperty("hive_id", out var h) ? h.GetString() ?? "" : hiveId ?? "";
        var state = root.TryGetProperty("hive_state", out var s) ? s.GetString() : hiveId is null ? null : "online";
        return new ModelRow(m.Id, hive, state, m.SizeBytes, m.Quantization, m.ContextLength, m.Architecture, m.ParameterCount,
            m.Source, m.Origin, m.Path, m.Sha256);
    }

    /// <summary>NAME, HIVE, SIZE, QUANT, CONTEXT, SOURCE; a hive that is not online says so beside its name.</summary>
    public static Table Render(IReadOnlyList<ModelRow> rows)
    {
        var table = new Table().NoBorder().AddColumns("NAME", "HIVE", "SIZE", "QUANT", "CONTEXT", "SOURCE");
        foreach (var r in rows.OrderBy(r => r.Id, StringComparer.Ordinal).ThenBy(r => r.HiveId, StringComparer.Ordinal))
        {
            table.AddRow(
                Markup.Escape(r.Id),
                Markup.Escape(r.HiveId + (r.HiveState is null or "online" ? "" : $" ({r.HiveState})")),
                Units.Bytes(r.SizeBytes),
                Markup.Escape(r.Quantization ?? "-"),
                Units.Number(r.ContextLength),
                Markup.Escape(r.Origin is { } origin ? $"{r.Source} ({origin})" : r.Source));
        }
        if (rows.Count == 0) table.Caption("no models on any hive: `rbee pull SOURCE --hive H` fetches one");
        return table;
    }
}
