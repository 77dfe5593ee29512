using System.Globalization;
using System.Text.Json;
using Rbee.Keeper.Cli;
using Rbee.Keeper.Connection;
using Rbee.Keeper.Models;
using Rbee.Keeper.Output;
using Rbee.Keeper.Workers;

namespace Rbee.Keeper.Logs;

/// <summary>What <c>rbee logs WORKER</c> (<paramref name="Worker"/> set) or <c>rbee hive logs [HIVE]</c> asks for.</summary>
public sealed record LogsRequest(ControlEndpoint Endpoint, string? Worker, string? Hive, int Lines, bool Follow, bool Json);

/// <summary>
/// <c>rbee logs WORKER [-n N] [-f]</c> and <c>rbee hive logs [HIVE] [-n N] [-f]</c>: the last lines of a worker's or a
/// hive's log, then with <c>-f</c> what is appended until Ctrl-C, read from the hive through the queen (or straight
/// from the hive with <c>--hive-url</c>). A worker that has exited is still found by HIVE:PORT: its log outlives it.
/// </summary>
public sealed class LogsCommand(KeeperIo io)
{
    public async Task<int> RunAsync(LogsRequest request, CancellationToken ct)
    {
        using var client = QueenClient.Create(request.Endpoint);
        var (hiveId, port) = request.Worker is { } worker ? await ResolveWorkerAsync(client, worker, ct) : (await HiveOfAsync(client, request.Hive, ct), (int?)null);
        var path = (client.IsHive, port) switch
        {
            (true, null) => "/v1/logs",
            (true, { } p) => $"/v1/workers/{p}/logs",
            (false, null) => $"/v1/hives/{Uri.EscapeDataString(hiveId)}/logs",
            (false, { } p) => $"/v1/hives/{Uri.EscapeDataString(hiveId)}/workers/{p}/logs",
        };
        path += string.Create(CultureInfo.InvariantCulture, $"?lines={request.Lines}&follow={(request.Follow ? "true" : "false")}");

        using var response = await client.OpenAsync(path, ct);
        if (response.Headers.TryGetValues(Rbee.Contracts.Protocol.ProtocolConstants.LogPathHeader, out var file) && !request.Json)
            io.Error.WriteLine($"{(port is { } wp ? $"worker {hiveId}:{wp}" : $"hive {hiveId}")}: {file.First()}{(request.Follow ? " (following; Ctrl-C stops)" : "")}");
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
        try
        {
            if (request.Json)
            {
                while (await reader.ReadLineAsync(ct) is { } line)
                {
                    io.Output.WriteLine(JsonSerializer.Serialize(new LogLine(hiveId, port, line), KeeperJsonContext.Compact.LogLine));
                    io.Output.Flush();
                }
            }
            else
            {
                var buffer = new char[16 * 1024];
                int n;
                while ((n = await reader.ReadAsync(buffer, ct)) > 0)
                {
                    io.Output.Write(buffer, 0, n);
                    io.Output.Flush();
                }
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException && !ct.IsCancellationRequested)
        {
            throw new CliFailure($"the log stream from {hiveId} broke off ({e.Message}): is the {(client.IsHive ? "hive" : "queen")} still up? `rbee status`");
        }
        return ExitCodes.Ok;
    }

    private static async Task<string> HiveOfAsync(QueenClient client, string? named, CancellationToken ct)
    {
        if (!client.IsHive) return await HiveTargets.OneAsync(client, named, "hive logs", ct);
        if (named is not null) throw CliFailure.Usage("rbee hive logs: with --hive-url the hive is that one; leave out HIVE");
        return await client.HiveIdAsync(ct);
    }

    /// <summary>
    /// The worker <paramref name="target"/> names among the running ones (as <c>rbee stop</c> reads it: URL, HIVE:PORT,
    /// PORT or a model served by one worker); else HIVE:PORT, or a bare PORT on the one hive, for one that has exited.
    /// </summary>
    public static async Task<(string HiveId, int? Port)> ResolveWorkerAsync(QueenClient client, string target, CancellationToken ct)
    {
        var rows = await PsCommand.ReadAsync(client, ct);
        var matches = StopCommand.Match(rows, target);
        if (matches.Count == 1) return (matches[0].HiveId, matches[0].Port);
        if (matches.Count > 1)
            throw CliFailure.Usage($"{matches.Count} workers serve '{target}' ({string.Join(", ", matches.Select(w => $"{w.HiveId}:{w.Port}"))}): name one as HIVE:PORT");

        var colon = target.LastIndexOf(':');
        if (colon > 0 && !target.Contains("://", StringComparison.Ordinal) && int.TryParse(target.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port))
            return (target[..colon], port);
        if (int.TryParse(target, NumberStyles.None, CultureInfo.InvariantCulture, out var bare))
            return (client.IsHive ? await client.HiveIdAsync(ct) : await HiveTargets.OneAsync(client, null, "logs", ct), bare);
        throw new CliFailure($"no worker serves or is named '{target}': `rbee ps` lists the workers (name one by MODEL, HIVE:PORT, PORT or URL)");
    }
}
