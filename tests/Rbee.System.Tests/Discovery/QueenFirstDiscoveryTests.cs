using System.Diagnostics;
using System.Net;
using System.Text;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;
using static Rbee.SystemTests.Discovery.DiscoveryScenarios;

namespace Rbee.SystemTests.Discovery;

/// <summary>
/// A queen started first, then two hives on the same machine (own ports, ids, cgroup roots), each timed from its start
/// to the queen's <c>online</c>. Shared by the queen-first scenarios, which leave both hives as they found them: a
/// scenario that freezes or kills a hive starts its own.
/// </summary>
public sealed class QueenFirstCluster : IAsyncLifetime
{
    public const string Token = "system-test-cluster-token";

    private readonly TempHome _home = new();

    public string Home => _home.Path;
    public QueenNode Queen { get; private set; } = null!;
    public HiveNode First { get; private set; } = null!;
    public HiveNode Second { get; private set; } = null!;

    /// <summary>From each hive's start to its <c>online</c> on the queen's stream.</summary>
    public TimeSpan FirstOnlineAfter { get; private set; }
    public TimeSpan SecondOnlineAfter { get; private set; }

    public async Task InitializeAsync()
    {
        try
        {
            await StartAsync();
        }
        catch
        {
            // xunit does not dispose a fixture whose start failed: stop what did start.
            await DisposeAsync();
            throw;
        }
    }

    private async Task StartAsync()
    {
        Queen = QueenNode.Start(Home, token: Token);
        await Queen.WaitHealthyAsync();
        await using var stream = await Queen.OpenStreamAsync();
        // The wait is longer than the budget the join scenario asserts, so a slow join fails that scenario alone.
        var wait = ScaledTimers.OnlineAfterLaterStart + ScaledTimers.ProcessStart;
        var started = Stopwatch.StartNew();
        First = HiveNode.Start(Home, Queen.Url, Token);
        await stream.WaitForStateAsync("first hive online", First.HiveId, "online", wait);
        FirstOnlineAfter = started.Elapsed;
        started.Restart();
        Second = HiveNode.Start(Home, Queen.Url, Token);
        await stream.WaitForStateAsync("second hive online", Second.HiveId, "online", wait);
        SecondOnlineAfter = started.Elapsed;
    }

    public async Task DisposeAsync()
    {
        if (Second is not null) await Second.DisposeAsync();
        if (First is not null) await First.DisposeAsync();
        if (Queen is not null) await Queen.DisposeAsync();
        _home.Dispose();
    }
}

/// <summary>
/// Queen running, hives start: each is online within budget holding one stream; forged readies and an unauthorised
/// queen_url change nothing; a frozen hive is degraded then offline and comes back on SIGCONT; a killed hive is offline
/// at once (its stream closed) while the others stay online. One scenario per test, so an early failure hides nothing.
/// </summary>
[Trait("Category", "System")]
[Collection("System")]
public sealed class QueenFirstDiscoveryTests(QueenFirstCluster cluster) : IClassFixture<QueenFirstCluster>
{
    private const string Token = QueenFirstCluster.Token;
    private QueenNode Queen => cluster.Queen;
    private HiveNode First => cluster.First;
    private HiveNode Second => cluster.Second;

    [Fact]
    public async Task QueenFirst_HivesStartedLater_AreOnlineWithinBudget_EachOnOneStream()
    {
        await using var stream = await Queen.OpenStreamAsync();
        Assert.True(cluster.FirstOnlineAfter < ScaledTimers.OnlineAfterLaterStart,
            $"first hive online {cluster.FirstOnlineAfter.TotalSeconds:0.0} s after its start; budget {ScaledTimers.OnlineAfterLaterStart.TotalSeconds} s");
        Assert.True(cluster.SecondOnlineAfter < ScaledTimers.OnlineAfterLaterStart,
            $"second hive online {cluster.SecondOnlineAfter.TotalSeconds:0.0} s after its start; budget {ScaledTimers.OnlineAfterLaterStart.TotalSeconds} s");
        var states = (await Queen.ClusterAsync()).GetProperty("hives").EnumerateArray()
            .ToDictionary(h => h.GetProperty("hive_id").GetString()!, h => h.GetProperty("state").GetString());
        Assert.Equal("online", states[First.HiveId]);
        Assert.Equal("online", states[Second.HiveId]);
        await AssertOneStreamAsync("one stream for the first hive", stream, First);
        await AssertOneStreamAsync("one stream for the second hive", stream, Second);
    }

    [Fact]
    public async Task QueenFirst_AForgedReadyForALiveHive_IsRefused_AndTheRealHiveStays()
    {
        await using var stream = await Queen.OpenStreamAsync();
        var before = Hives(await Queen.ClusterAsync());
        var forged = $$"""{"hive_id":"{{First.HiveId}}","hive_url":"http://127.0.0.2:9","instance_id":"forged","version":"0.1.0","protocol":1}""";
        Assert.Equal(HttpStatusCode.Conflict, await PostReadyAsync(Queen, forged, Token));
        Assert.Equal(HttpStatusCode.Unauthorized, await PostReadyAsync(Queen, forged, token: null));
        Assert.Equal(before, Hives(await Queen.ClusterAsync()));
        Assert.Equal(First.Url, before[First.HiveId].Url);

        // Bad input gets a 4xx in the error shape and changes nothing.
        Assert.Equal(HttpStatusCode.BadRequest, await PostReadyAsync(Queen, forged.Replace("http://127.0.0.2:9", "not a url"), Token));
        Assert.Equal(HttpStatusCode.BadRequest, await PostReadyAsync(Queen, forged.Replace("http://", "ftp://"), Token));
        Assert.Equal(HttpStatusCode.BadRequest, await PostReadyAsync(Queen, "{\"hive_id\":", Token));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await PostReadyAsync(Queen, new string(' ', 2 * 1024 * 1024) + forged, Token));
        using (var unknown = Http.Request(HttpMethod.Get, $"{Queen.Url}/v1/hives/no-such-hive", Token))
        using (var response = await Http.Client.SendAsync(unknown))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Contains("\"unknown_hive\"", await response.Content.ReadAsStringAsync());
        }
        Assert.Equal(before, Hives(await Queen.ClusterAsync()));
        await stream.WaitForFramesAsync("frames after forged ready", First.HiveId, 2, ScaledTimers.TelemetryInterval * 2 * ScaledTimers.Headroom);
    }

    [Fact]
    public async Task QueenFirst_AnUnauthorisedQueenUrl_IsRefused_AndTelemetryKeepsFlowing()
    {
        await using var stream = await Queen.OpenStreamAsync();
        using (var response = await Http.Client.GetAsync($"{First.Url}/capabilities?queen_url={Uri.EscapeDataString("http://127.0.0.1:9")}"))
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.StartsWith(Queen.Url, (await First.HealthAsync()).GetProperty("queen_url").GetString());
        await stream.WaitForFramesAsync("frames after unauthorised queen_url", First.HiveId, 2, ScaledTimers.TelemetryInterval * 2 * ScaledTimers.Headroom);
        Assert.Equal(1, await First.SubscriptionsAsync());
    }

    [Fact]
    public async Task QueenFirst_AFrozenHive_IsDegradedThenOffline_AndOnlineAgainOnSigcont()
    {
        await using var stream = await Queen.OpenStreamAsync();
        await using var frozen = HiveNode.Start(cluster.Home, Queen.Url, Token);
        await stream.WaitForStateAsync("hive to freeze online", frozen.HiveId, "online", ScaledTimers.OnlineAfterLaterStart);

        // SIGSTOP → degraded, then offline (no frames, socket still open); SIGCONT → online again.
        frozen.Process.Signal(Signals.SIGSTOP);
        try
        {
            await stream.WaitForStateAsync("frozen hive degraded", frozen.HiveId, "degraded", ScaledTimers.DegradedAfter * ScaledTimers.Headroom);
            var offline = await stream.WaitForStateAsync("frozen hive offline", frozen.HiveId, "offline", ScaledTimers.OfflineAfter * ScaledTimers.Headroom);
            Assert.StartsWith("no frame", Reason(offline));
        }
        finally
        {
            frozen.Process.Signal(Signals.SIGCONT);
        }
        await stream.WaitForStateAsync("thawed hive online", frozen.HiveId, "online", ScaledTimers.OnlineAfterLaterStart);
        Assert.Equal("online", await Queen.HiveStateAsync(First.HiveId));
        Assert.Equal("online", await Queen.HiveStateAsync(Second.HiveId));
    }

    [Fact]
    public async Task QueenFirst_AKilledHive_IsOfflineAtOnce_BecauseItsStreamClosed()
    {
        await using var stream = await Queen.OpenStreamAsync();
        await using var killed = HiveNode.Start(cluster.Home, Queen.Url, Token);
        await stream.WaitForStateAsync("hive to kill online", killed.HiveId, "online", ScaledTimers.OnlineAfterLaterStart);

        // SIGKILL → offline at once, because the stream closed (not the liveness timeout).
        killed.Process.Signal(Signals.SIGKILL);
        var offline = await stream.WaitForStateAsync("killed hive offline", killed.HiveId, "offline", ScaledTimers.OfflineAfter * ScaledTimers.Headroom);
        Assert.False(Reason(offline)?.StartsWith("no frame", StringComparison.Ordinal) ?? false, $"offline by timeout, not by the stream closing: {Reason(offline)}");
        Assert.Equal("online", await Queen.HiveStateAsync(First.HiveId));
        Assert.Equal("online", await Queen.HiveStateAsync(Second.HiveId));
        var killedView = (await Queen.ClusterAsync()).GetProperty("hives").EnumerateArray().Single(h => h.GetProperty("hive_id").GetString() == killed.HiveId);
        Assert.Equal(0, killedView.GetProperty("workers").GetArrayLength());
    }

    /// <summary>Who the queen lists and where: a refused ready must change neither.</summary>
    private static Dictionary<string, (string? Url, string? InstanceId)> Hives(System.Text.Json.JsonElement cluster) =>
        cluster.GetProperty("hives").EnumerateArray().ToDictionary(
            h => h.GetProperty("hive_id").GetString()!,
            h => (h.GetProperty("hive_url").GetString(), h.GetProperty("instance_id").GetString()));

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
