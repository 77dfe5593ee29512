using System.Text;
using System.Text.Json;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;
using static Rbee.SystemTests.Discovery.DiscoveryScenarios;

namespace Rbee.SystemTests.Discovery;

/// <summary>
/// A ready that claims a live hive restarted (its URL, a new instance id) is checked with the hive itself before the
/// queen replaces anything: a made-up one is refused with 409 and the real hive's stream and state are untouched.
/// </summary>
[Trait("Category", "System")]
[Collection("System")]
public sealed class ForgedReadyTests
{
    [Fact]
    public async Task AReadyWithAnInstanceTheHiveDoesNotRun_IsRefused_AndTheLiveHiveKeepsItsStream()
    {
        using var home = new TempHome();
        var queenPort = FreePort.Next();
        await using var queen = QueenNode.Start(home.Path, queenPort);
        await queen.WaitHealthyAsync();
        await using var stream = await queen.OpenStreamAsync();
        await using var hive = HiveNode.Start(home.Path, queen.Url);
        await WaitOnlineAsync("hive online", queen, stream, hive.HiveId, ScaledTimers.OnlineAfterLaterStart + ScaledTimers.ProcessStart);
        var before = Entry(await queen.ClusterAsync(), hive.HiveId);
        var instance = before.GetProperty("instance_id").GetString()!;

        var forged = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["hive_id"] = hive.HiveId,
            ["hive_url"] = before.GetProperty("hive_url").GetString()!,
            ["instance_id"] = "forged-" + Guid.NewGuid().ToString("N"),
            ["version"] = "0.1.0",
            ["protocol"] = 1,
        });
        using var request = Http.Request(HttpMethod.Post, queen.Url + "/v1/hive/ready", queen.Token);
        request.Content = new StringContent(forged, Encoding.UTF8, "application/json");
        using var response = await Http.Client.SendAsync(request);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(System.Net.HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("instance_mismatch", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains(instance, body.GetProperty("error").GetProperty("message").GetString());

        // Nothing was replaced: the same instance, still online, still one stream, and its frames keep coming.
        var after = Entry(await queen.ClusterAsync(), hive.HiveId);
        Assert.Equal(instance, after.GetProperty("instance_id").GetString());
        Assert.Equal("online", after.GetProperty("state").GetString());
        await stream.WaitForFramesAsync("frames after the forged ready", hive.HiveId, 2, ScaledTimers.TelemetryInterval * 2 * ScaledTimers.Headroom);
        Assert.Equal(1, await hive.SubscriptionsAsync());
    }

    private static JsonElement Entry(JsonElement cluster, string hiveId) =>
        cluster.GetProperty("hives").EnumerateArray().Single(h => h.GetProperty("hive_id").GetString() == hiveId);
}
