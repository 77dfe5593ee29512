using System.Globalization;
using System.Text.Json;
using Rbee.Contracts.Wire;
using Rbee.Keeper.Cli;
using Rbee.Keeper.Connection;
using Rbee.Keeper.Output;
using Spectre.Console;

namespace Rbee.Keeper.Models;

public sealed record PullRequest(ControlEndpoint Endpoint, string Source, string? Name, IReadOnlyList<string> Hives, bool All, bool Json);

/// <summary>
/// <c>rbee pull SOURCE [--hive H | --all]</c>: the queen's <c>model_download</c> onto one hive, several or every online
/// one, with a progress bar per hive (bytes, rate, ETA) on a terminal and a plain line every few seconds otherwise.
/// Ctrl-C cancels the job on every hive; the bytes so far are kept for the next pull.
/// </summary>
public sealed class PullCommand(KeeperIo io, TimeProvider clock)
{
    /// <summary>Without a terminal, one progress line per hive at most this often (and the last one always).</summary>
    public static readonly TimeSpan PlainProgressInterval = TimeSpan.FromSeconds(5);

    public async Task<int> RunAsync(PullRequest request, CancellationToken ct)
    {
        using var queen = QueenClient.Create(request.Endpoint);
        var target = await HiveTargets.ResolveAsync(queen, request.Hives, request.All, "pull", ct);
        var body = JobBody.Of(JobOperations.ModelDownload, ("source", request.Source), ("hive_id", target), ("name", request.Name));
        var downloaded = new List<PulledModel>();

        JobOutcome outcome;
        if (io.ErrorIsTerminal && !request.Json)
        {
            outcome = await io.Err.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(),
                    new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(async ctx =>
                {
                    var bars = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                    return await queen.RunJobAsync(body, _ => { }, data =>
                    {
                        if (!JobEvents.TryRead(data, out var e)) return;
                        if (e is ModelProgress p)
                        {
                            if (!bars.TryGetValue(p.HiveId, out var bar))
                                bars[p.HiveId] = bar = ctx.AddTask(Markup.Escape($"{p.Model} on {p.HiveId}"), maxValue: Math.Max(1, p.Total ?? p.Bytes));
                            if (p.Total is { } total) bar.MaxValue = Math.Max(1, total);
                            else if (p.Bytes > bar.MaxValue) bar.MaxValue = p.Bytes;
                            bar.Value = p.Bytes;
                        }
                        else if (e is ModelDownloaded d)
                        {
                            if (bars.TryGetValue(d.HiveId, out var bar)) bar.Value = bar.MaxValue;
                            downloaded.Add(new PulledModel(d.Model, d.HiveId, d.Path, d.Sha256, d.Size));
                        }
                    }, ct);
                });
        }
        else
        {
            var lastLine = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
            outcome = await queen.RunJobAsync(body, line => io.Error.WriteLine(line), data =>
            {
                if (!JobEvents.TryRead(data, out var e)) return;
                if (e is ModelProgress p)
                {
                    var now = clock.GetUtcNow();
                    var done = p.Total is { } t && p.Bytes >= t;
                    if (!done && lastLine.TryGetValue(p.HiveId, out var last) && now - last < PlainProgressInterval) return;
                    lastLine[p.HiveId] = now;
                    io.Error.WriteLine(ProgressLine(p));
                }
                else if (e is ModelDownloaded d) downloaded.Add(new PulledModel(d.Model, d.HiveId, d.Path, d.Sha256, d.Size));
            }, ct);
        }

        if (request.Json) io.Output.WriteLine(JsonSerializer.Serialize(new PullOutput(request.Source, downloaded), KeeperJsonContext.Default.PullOutput));
        else foreach (var d in downloaded) io.Output.WriteLine($"pulled {d.Model} onto {d.HiveId}: {Units.Bytes(d.Size)}, sha256 {d.Sha256[..Math.Min(12, d.Sha256.Length)]}");
        if (!outcome.Succeeded) throw new CliFailure($"pull of {request.Source} failed: {outcome.Error ?? outcome.Marker}");
        return ExitCodes.Ok;
    }

    /// <summary><c>tiny on gpu-box: 45% (12.3 MiB of 27.0 MiB, 3.1 MiB/s, ETA 5s)</c>.</summary>
    public static string ProgressLine(ModelProgress p)
    {
        var parts = new List<string>();
        parts.Add(p.Total is { } total ? $"{Units.Bytes(p.Bytes)} of {Units.Bytes(total)}" : Units.Bytes(p.Bytes));
        if (p.BytesPerS is { } rate) parts.Add($"{Units.Bytes((long)rate)}/s");
        if (p.EtaS is { } eta) parts.Add($"ETA {Units.Duration(TimeSpan.FromSeconds(eta))}");
        var percent = p.Total is > 0 ? ((int)(100 * p.Bytes / p.Total.Value)).ToString(CultureInfo.InvariantCulture) + "% " : "";
        return $"{p.Model} on {p.HiveId}: {percent}({string.Join(", ", parts)})";
    }
}
