using System.Globalization;
using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Keeper.Connection;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Rbee.Keeper.Status;

public sealed record StatusRequest(Uri QueenUrl, bool Json);

/// <summary><c>rbee status</c>: the queen's <c>/v1/cluster</c> as a table of hives, or as JSON for scripts.</summary>
public sealed class StatusCommand(IAnsiConsole console, TextWriter output, TextWriter error)
{
    public async Task<int> RunAsync(StatusRequest request, CancellationToken ct)
    {
        using var client = KeeperHttp.Create(ClusterTokenStore.Read());
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        var queen = request.QueenUrl.ToString().TrimEnd('/');
        string body;
        try
        {
            using var httpRequest = client.Request(HttpMethod.Get, new Uri(request.QueenUrl, "/v1/cluster"));
            using var response = await client.Client.SendAsync(httpRequest, timeout.Token);
            body = await response.Content.ReadAsStringAsync(timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                var message = TryError(body) ?? $"status {(int)response.StatusCode}";
                error.WriteLine($"queen-rbee at {queen} refused: {message}");
                return 1;
            }
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            error.WriteLine($"queen-rbee is not reachable at {queen}; start it with: rbee up");
            return 1;
        }

        if (request.Json)
        {
            output.WriteLine(body);
            return 0;
        }
        var view = JsonSerializer.Deserialize(body, RbeeJsonContext.Default.ClusterView);
        if (view is null)
        {
            error.WriteLine($"queen-rbee at {queen} answered something that is not a cluster view");
            return 1;
        }
        console.Write(Render(view));
        return 0;
    }

    /// <summary>
    /// The table of hives (id, state, last frame age, devices, CPU %, RAM used/total, GPU utilisation and VRAM used/total
    /// per GPU, workers), then the workers as <c>rbee ps</c> shows them. A figure the hive did not measure is "-".
    /// </summary>
    public static IRenderable Render(ClusterView view, DateTimeOffset? now = null)
    {
        var table = new Table().AddColumns("HIVE", "STATE", "LAST FRAME", "DEVICES", "CPU %", "RAM", "GPU %", "VRAM", "WORKERS");
        foreach (var h in view.Hives)
        {
            var gpus = h.Node?.Gpus ?? [];
            table.AddRow(
                Markup.Escape(h.HiveId),
                Markup.Escape(h.State.ToWire() + (h.State == HiveState.Incompatible && h.Reason is not null ? $" ({h.Reason})" : "")),
                h.LastFrameAgeMs is { } age ? Age(age) : "-",
                Markup.Escape(h.Devices.Count == 0 ? "-" : string.Join(", ", h.Devices.Select(d => d.Id))),
                h.Node?.CpuPct is { } cpu ? cpu.ToString("0.0", CultureInfo.InvariantCulture) : "-",
                h.Node is { RamUsedBytes: { } used, RamTotalBytes: { } total } ? $"{Gib(used)}/{Gib(total)} GiB" : "-",
                gpus.Count == 0 ? "-" : string.Join(", ", gpus.Select(g => g.UtilPct is { } u ? u.ToString("0", CultureInfo.InvariantCulture) : "-")),
                gpus.Count == 0 ? "-" : string.Join(", ", gpus.Select(g => g is { VramUsedBytes: { } vu, VramTotalBytes: { } vt } ? $"{Gib(vu)}/{Gib(vt)} GiB" : "-")),
                h.Workers.Count.ToString(CultureInfo.InvariantCulture));
        }
        if (view.Hives.Count == 0) table.Caption("no hives known to the queen");
        var rows = Workers.PsCommand.Rows(view);
        return rows.Count == 0 ? table : new Rows(table, Text.Empty, Workers.PsCommand.Render(rows, now ?? DateTimeOffset.UtcNow));
    }

    private static string Age(long ms) => ms < 1000 ? $"{ms} ms" : (ms / 1000.0).ToString("0.0", CultureInfo.InvariantCulture) + " s";

    private static string Gib(long bytes) => (bytes / (1024.0 * 1024 * 1024)).ToString("0.0", CultureInfo.InvariantCulture);

    private static string? TryError(string body)
    {
        try
        {
            return JsonSerializer.Deserialize(body, RbeeJsonContext.Default.ErrorResponse)?.Error.Message;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
