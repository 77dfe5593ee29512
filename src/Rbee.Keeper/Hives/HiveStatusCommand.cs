using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Keeper.Cli;
using Rbee.Keeper.Connection;
using Rbee.Keeper.Models;
using Rbee.Keeper.Output;
using Rbee.Keeper.Status;

namespace Rbee.Keeper.Hives;

public sealed record HiveStatusRequest(ControlEndpoint Endpoint, string? Hive, bool Json);

/// <summary>
/// <c>rbee hive status [HIVE]</c>: one hive as the queen sees it (state, last frame, devices, CPU, RAM, workers) and as
/// it sees itself (the <c>hive_check</c> job: how it watches its workers, its directories, its worker types). With
/// <c>--hive-url</c>, the hive alone.
/// </summary>
public sealed class HiveStatusCommand(KeeperIo io)
{
    public async Task<int> RunAsync(HiveStatusRequest request, CancellationToken ct)
    {
        using var client = QueenClient.Create(request.Endpoint);
        string hiveId;
        HiveView? view = null;
        string? viewJson = null;
        if (client.IsHive)
        {
            if (request.Hive is not null) throw CliFailure.Usage("rbee hive status: with --hive-url the hive is that one; leave out HIVE");
            hiveId = await client.HiveIdAsync(ct);
        }
        else
        {
            hiveId = await HiveTargets.OneAsync(client, request.Hive, "hive status", ct);
            viewJson = await client.GetStringAsync($"/v1/hives/{Uri.EscapeDataString(hiveId)}", ct);
            view = JsonSerializer.Deserialize(viewJson, RbeeJsonContext.Default.HiveView);
        }

        var lines = new List<string>();
        string? check = null;
        // A hive the queen sees offline cannot be asked; its view (and `rbee hive logs`) is what there is.
        JobOutcome? outcome = null;
        if (view is null || view.State is HiveState.Online or HiveState.Degraded)
        {
            outcome = await client.RunJobAsync(JobBody.Of(JobOperations.HiveCheck, ("hive_id", client.IsHive ? null : hiveId)),
                line => lines.Add(line.StartsWith($"[{hiveId}] ", StringComparison.Ordinal) ? line[(hiveId.Length + 3)..] : line),
                data => check = JobEvents.TryRead(data, out var e) && e is HiveChecked ? data : check, ct);
        }

        if (request.Json)
        {
            io.Output.WriteLine(JsonSerializer.Serialize(new HiveStatusOutput(hiveId, KeeperJsonContext.Element(viewJson), KeeperJsonContext.Element(check)), KeeperJsonContext.Default.HiveStatusOutput));
        }
        else
        {
            if (view is not null) io.Out.Write(StatusCommand.Render(new ClusterView(0, [view])));
            else io.Output.WriteLine($"hive {hiveId} at {CliFailure.Display(client.BaseUrl)}");
            foreach (var line in lines.Where(l => !l.StartsWith("forwarded ", StringComparison.Ordinal))) io.Output.WriteLine(line);
        }
        if (outcome is { Succeeded: false })
        {
            io.Error.WriteLine($"rbee hive status: the hive's own check failed: {outcome.Error ?? outcome.Marker}");
            return ExitCodes.Failed;
        }
        if (outcome is null) io.Error.WriteLine($"rbee hive status: {hiveId} is {view!.State.ToWire()}; its last lines: `rbee hive logs {hiveId}`");
        return outcome is null ? ExitCodes.Failed : ExitCodes.Ok;
    }

}
