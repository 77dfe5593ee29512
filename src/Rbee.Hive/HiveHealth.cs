using System.Text.Json.Serialization;

namespace Rbee.Hive;

/// <summary>
/// <c>GET /health</c> of a hive: alive, who it is, and how its link to the queen stands (<c>subscriptions</c>: open
/// telemetry streams, so tests can check that a queen holds exactly one).
/// </summary>
public sealed record HiveHealth(
    string Status,
    string HiveId,
    string InstanceId,
    string HiveUrl,
    string Version,
    int Protocol,
    string QueenUrl,
    string Ready,
    int Subscriptions,
    long FramesSent);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(HiveHealth))]
internal sealed partial class HiveJsonContext : JsonSerializerContext;
