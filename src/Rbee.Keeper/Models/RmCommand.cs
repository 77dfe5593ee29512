using System.Text.Json;
using Rbee.Contracts.Wire;
using Rbee.Keeper.Cli;
using Rbee.Keeper.Connection;
using Rbee.Keeper.Output;

namespace Rbee.Keeper.Models;

public sealed record RmRequest(ControlEndpoint Endpoint, string Model, IReadOnlyList<string> Hives, bool All, bool Json);

/// <summary><c>rbee rm MODEL --hive H</c>: the queen's <c>model_delete</c> on one hive, several, or every one that has it.</summary>
public sealed class RmCommand(KeeperIo io)
{
    public async Task<int> RunAsync(RmRequest request, CancellationToken ct)
    {
        using var queen = QueenClient.Create(request.Endpoint);
        var target = await HiveTargets.ResolveAsync(queen, request.Hives, request.All, "rm", ct);
        var deleted = new List<DeletedModel>();
        var outcome = await queen.RunJobAsync(JobBody.Of(JobOperations.ModelDelete, ("model", request.Model), ("hive_id", target)),
            _ => { },
            data =>
            {
                if (JobEvents.TryRead(data, out var e) && e is ModelDeleted d) deleted.Add(new DeletedModel(d.Model, d.HiveId, d.Path));
            },
            ct);
        if (request.Json) io.Output.WriteLine(JsonSerializer.Serialize(new RmOutput(deleted), KeeperJsonContext.Default.RmOutput));
        else foreach (var d in deleted) io.Output.WriteLine($"deleted {d.Model} from {d.HiveId} ({d.Path})");
        if (!outcome.Succeeded) throw new CliFailure($"deleting {request.Model} failed: {outcome.Error ?? outcome.Marker}");
        return ExitCodes.Ok;
    }
}
