using System.Globalization;
using System.Text.Json;
using Rbee.Contracts.Wire;
using Rbee.Keeper.Cli;
using Rbee.Keeper.Connection;
using Rbee.Keeper.Output;

namespace Rbee.Keeper.Workers;

public sealed record StopRequest(ControlEndpoint Endpoint, string Target, bool Json);

/// <summary>
/// <c>rbee stop MODEL|WORKER</c>: every worker serving a model, or one worker named by <c>HIVE:PORT</c> or its URL,
/// stopped through the queen's <c>worker_stop</c> jobs, all at once; each job ends only when the worker has left the
/// queen's view, so a <c>rbee ps</c> right after no longer shows it.
/// </summary>
public sealed class StopCommand(KeeperIo io)
{
    public async Task<int> RunAsync(StopRequest request, CancellationToken ct)
    {
        using var queen = QueenClient.Create(request.Endpoint);
        var rows = await PsCommand.ReadAsync(queen, ct);
        var targets = Match(rows, request.Target);
        if (targets.Count == 0)
            throw new CliFailure($"no worker serves or is named '{request.Target}': `rbee ps` lists the workers (stop one by MODEL, HIVE:PORT or URL)");

        var results = await Task.WhenAll(targets.Select(async w =>
        {
            var outcome = await queen.RunJobAsync(
                JobBody.Of(JobOperations.WorkerStop, ("hive_id", queen.IsHive ? null : w.HiveId), ("port", w.Port)), _ => { }, _ => { }, ct);
            return (Worker: w, Outcome: outcome);
        }));

        var stopped = results.Where(r => r.Outcome.Succeeded).Select(r => new StoppedWorker(r.Worker.HiveId, r.Worker.Port, r.Worker.Model, r.Worker.Url)).ToList();
        if (request.Json) io.Output.WriteLine(JsonSerializer.Serialize(new StopOutput(stopped), KeeperJsonContext.Default.StopOutput));
        else foreach (var s in stopped) io.Output.WriteLine($"stopped {s.Model ?? "worker"} on {s.HiveId}:{s.Port}");
        foreach (var (w, outcome) in results.Where(r => !r.Outcome.Succeeded))
            io.Error.WriteLine($"rbee stop: {w.HiveId}:{w.Port} did not stop: {outcome.Error ?? outcome.Marker}");
        return stopped.Count == results.Length ? ExitCodes.Ok : ExitCodes.Failed;
    }

    /// <summary>
    /// The workers <paramref name="target"/> names: a URL (the worker's), <c>HIVE:PORT</c>, a bare port when one worker
    /// has it, else every worker whose model is <paramref name="target"/>.
    /// </summary>
    public static List<WorkerRow> Match(IReadOnlyList<WorkerRow> rows, string target)
    {
        if (target.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || target.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            return rows.Where(w => string.Equals(w.Url?.TrimEnd('/'), target.TrimEnd('/'), StringComparison.OrdinalIgnoreCase)).ToList();
        var colon = target.LastIndexOf(':');
        if (colon > 0 && int.TryParse(target.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            var hive = target[..colon];
            var byHive = rows.Where(w => w.HiveId == hive && w.Port == port).ToList();
            if (byHive.Count > 0) return byHive;
        }
        if (int.TryParse(target, NumberStyles.None, CultureInfo.InvariantCulture, out var bare))
        {
            var byPort = rows.Where(w => w.Port == bare).ToList();
            if (byPort.Count == 1) return byPort;
            if (byPort.Count > 1)
                throw CliFailure.Usage($"port {bare} is on {byPort.Count} hives ({string.Join(", ", byPort.Select(w => w.HiveId))}): name one as HIVE:{bare}");
        }
        return rows.Where(w => w.Model == target).ToList();
    }
}
