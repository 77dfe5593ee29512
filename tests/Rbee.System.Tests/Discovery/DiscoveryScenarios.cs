using System.Text.Json;
using Rbee.SystemTests.Infrastructure;

namespace Rbee.SystemTests.Discovery;

/// <summary>Steps the discovery scenarios share.</summary>
internal static class DiscoveryScenarios
{
    /// <summary>Awaits the hive online: already in /v1/cluster, or announced on the (already open) stream.</summary>
    public static async Task WaitOnlineAsync(string phase, QueenNode queen, ClusterStream stream, string hiveId, TimeSpan budget)
    {
        if (await queen.HiveStateAsync(hiveId) == "online") return;
        await stream.WaitForStateAsync(phase, hiveId, "online", budget);
    }

    /// <summary>Exactly one open telemetry stream at the hive, checked after a few frames so a late duplicate would show.</summary>
    public static async Task AssertOneStreamAsync(string phase, ClusterStream stream, HiveNode hive)
    {
        await stream.WaitForFramesAsync(phase, hive.HiveId, 3, ScaledTimers.TelemetryInterval * 3 * ScaledTimers.Headroom);
        Assert.Equal(1, await hive.SubscriptionsAsync());
    }

    public static string? Reason(JsonElement hiveState) =>
        hiveState.TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
}
