using System.Text.Json;
using System.Text.Json.Serialization;
using Rbee.Contracts.Wire;

namespace Rbee.Contracts.Json;

/// <summary>Source-generated, snake_case serialization of every wire type (DESIGN.md "Wire contract").</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    UseStringEnumConverter = true,
    // A job event's "event" name is written first, but a reader should not depend on a peer's field order.
    AllowOutOfOrderMetadataProperties = true)]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(Capabilities))]
[JsonSerializable(typeof(HiveReady))]
[JsonSerializable(typeof(HiveReadyAccepted))]
[JsonSerializable(typeof(TelemetryFrame))]
[JsonSerializable(typeof(ProcessStats))]
[JsonSerializable(typeof(ClusterView))]
[JsonSerializable(typeof(QueenInfo))]
[JsonSerializable(typeof(ClusterSummary))]
[JsonSerializable(typeof(HiveStateChanged))]
[JsonSerializable(typeof(WorkerChanged))]
[JsonSerializable(typeof(JobAccepted))]
[JsonSerializable(typeof(WorkerSpawnRequest))]
[JsonSerializable(typeof(WorkerStopRequest))]
[JsonSerializable(typeof(JobDataEvent))]
[JsonSerializable(typeof(TokenUsage))]
[JsonSerializable(typeof(ShutdownRequest))]
[JsonSerializable(typeof(ModelInfo))]
[JsonSerializable(typeof(ModelCatalog))]
[JsonSerializable(typeof(OpenAiModelList))]
[JsonSerializable(typeof(OpenAiModel))]
[JsonSerializable(typeof(RequestEvent))]
[JsonSerializable(typeof(WorkerHealthChanged))]
[JsonSerializable(typeof(ConfigReport))]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(Dictionary<string, string>))]
public sealed partial class RbeeJsonContext : JsonSerializerContext;

public static class RbeeJson
{
    /// <summary>Options for the daemons' HTTP pipelines: the generated context plus snake_case names.</summary>
    public static JsonSerializerOptions Options => RbeeJsonContext.Default.Options;
}
