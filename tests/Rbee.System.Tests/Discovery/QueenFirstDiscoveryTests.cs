using System.Diagnostics;
using System.Net;
using System.Text;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;
using static Rbee.SystemTests.Discovery.DiscoveryScenarios;

namespace Rbee.SystemTests.Discovery;

[Trait("Category", "System")]
[Collection("System")]
public sealed class QueenFirstDiscoveryTests
{
    private const string Token = "system-test-cluster-token";

    /// <summary>
    /// Queen running, hives start: each is online within budget holding one stream; forged readies and an
    /// unauthorised queen_url change nothing; a frozen hive is degraded then offline and comes back on SIGCONT; a
    /// killed hive is offline at once (its stream closed) while the other stays online. Three processes in all.
    /// </summary>
    [Fact]
    public async Task QueenFirst_HivesJoin_ForgeriesAreRefused_FreezeAndKillAreSeen()
    {
        using var home = new TempHome();
        await using var queen = QueenNode.Start(home.Path, token: Token);
        await queen.WaitHealthyAsync();
        await using var stream = await queen.OpenStreamAsync();

        // Phase 1: the first hive's ready lands at once.
        var started = Stopwatch.StartNew();
        await using var first = HiveNode.Start(home.Path, queen.Url, Token);
        await stream.WaitForStateAsync("first hive online", first.HiveId, "online", ScaledTimers.OnlineAfterLaterStart);
        Assert.True(started.Elapsed < ScaledTimers.OnlineAfterLaterStart);
        await AssertOneStreamAsync("one stream for the first hive", stream, first);

        // Phase 2: a forged ready for the live hive id is refused and the real hive stays.
        var forged = $$"""{"hive_id":"{{first.HiveId}}","hive_url":"http://127.0.0.2:9","instance_id":"forged","version":"0.1.0","protocol":1}""";
        Assert.Equal(HttpStatusCode.Conflict, await PostReadyAsync(queen, forged, Token));
        Assert.Equal(HttpStatusCode.Unauthorized, await PostReadyAsync(queen, forged, token: null));
        var cluster = await queen.ClusterAsync();
        var listed = Assert.Single(cluster.GetProperty("hives").EnumerateArray());
        Assert.Equal(first.Url, listed.GetProperty("hive_url").GetString());
        // Bad input gets a 4xx in the error shape and changes nothing.
        Assert.Equal(HttpStatusCode.BadRequest, await PostReadyAsync(queen, forged.Replace("http://127.0.0.2:9", "not a url"), Token));
        Assert.Equal(HttpStatusCode.BadRequest, await PostReadyAsync(queen, forged.Replace("http://", "ftp://"), Token));
        Assert.Equal(HttpStatusCode.BadRequest, await PostReadyAsync(queen, "{\"hive_id\":", Token));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await PostReadyAsync(queen, new string(' ', 2 * 1024 * 1024) + forged, Token));
        using (var unknown = Http.Request(HttpMethod.Get, $"{queen.Url}/v1/hives/no-such-hive", Token))
        using (var response = await Http.Client.SendAsync(unknown))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Contains("\"unknown_hive\"", await response.Content.ReadAsStringAsync());
        }
        Assert.Single((await queen.ClusterAsync()).GetProperty("hives").EnumerateArray());
        await stream.WaitForFramesAsync("frames after forged ready", first.HiveId, 2, ScaledTimers.TelemetryInterval * 2 * ScaledTimers.Headroom);

        // Phase 3: an unauthorised queen_url is refused; telemetry keeps flowing to the real queen.
        using (var response = await Http.Client.GetAsync($"{first.Url}/capabilities?queen_url={Uri.EscapeDataString("http://127.0.0.1:9")}"))
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.StartsWith(queen.Url, (await first.HealthAsync()).GetProperty("queen_url").GetString());
        await stream.WaitForFramesAsync("frames after unauthorised queen_url", first.HiveId, 2, ScaledTimers.TelemetryInterval * 2 * ScaledTimers.Headroom);
        Assert.Equal(1, await first.SubscriptionsAsync());

        // Phase 4: a second hive on the same machine (own port, id, cgroup root): both visible.
        await using var second = HiveNode.Start(home.Path, queen.Url, Token);
        await stream.WaitForStateAsync("second hive online", second.HiveId, "online", ScaledTimers.OnlineAfterLaterStart);
        var states = (await queen.ClusterAsync()).GetProperty("hives").EnumerateArray()
            .ToDictionary(h => h.GetProperty("hive_id").GetString()!, h => h.GetProperty("state").GetString());
        Assert.Equal("online", states[first.HiveId]);
        Assert.Equal("online", states[second.HiveId]);
        await AssertOneStreamAsync("one stream for the second hive", stream, second);

        // Phase 5: SIGSTOP → degraded, then offline (no frames, socket still open); SIGCONT → online again.
        second.Process.Signal(Signals.SIGSTOP);
        try
        {
            await stream.WaitForStateAsync("frozen hive degraded", second.HiveId, "degraded", ScaledTimers.DegradedAfter * ScaledTimers.Headroom);
            var offline = await stream.WaitForStateAsync("frozen hive offline", second.HiveId, "offline", ScaledTimers.OfflineAfter * ScaledTimers.Headroom);
            Assert.StartsWith("no frame", Reason(offline));
        }
        finally
        {
            second.Process.Signal(Signals.SIGCONT);
        }
        await stream.WaitForStateAsync("thawed hive online", second.HiveId, "online", ScaledTimers.OnlineAfterLaterStart);
        Assert.Equal("online", await queen.HiveStateAsync(first.HiveId));

        // Phase 6: SIGKILL → offline at once, because the stream closed (not the liveness timeout).
        first.Process.Signal(Signals.SIGKILL);
        var killed = await stream.WaitForStateAsync("killed hive offline", first.HiveId, "offline", ScaledTimers.OfflineAfter * ScaledTimers.Headroom);
        Assert.False(Reason(killed)?.StartsWith("no frame", StringComparison.Ordinal) ?? false, $"offline by timeout, not by the stream closing: {Reason(killed)}");
        Assert.Equal("online", await queen.HiveStateAsync(second.HiveId));
        var killedView = (await queen.ClusterAsync()).GetProperty("hives").EnumerateArray().Single(h => h.GetProperty("hive_id").GetString() == first.HiveId);
        Assert.Equal(0, killedView.GetProperty("workers").GetArrayLength());
    }

    private static async Task<HttpStatusCode> PostReadyAsync(QueenNode queen, string body, string? token)
    {
        using var request = Http.Request(HttpMethod.Post, $"{queen.Url}/v1/hive/ready", token);
        request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        // An oversized body is refused (413) from its Content-Length, and the connection closed, possibly while the
        // client is still writing: a broken pipe instead of the answer. Expect: 100-continue, as curl sends for large
        // uploads, lets the refusal arrive before the body is sent.
        if (body.Length > 64 * 1024) request.Headers.ExpectContinue = true;
        using var response = await Http.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) Assert.Contains("\"error\"", text);
        return response.StatusCode;
    }
}
