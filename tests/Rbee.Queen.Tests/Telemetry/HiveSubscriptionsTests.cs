using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Rbee.Contracts.Json;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Security;
using Rbee.Platform.Http;
using Rbee.Queen.Cluster;
using Rbee.Queen.Configuration;
using Rbee.Queen.Telemetry;
using static Rbee.Queen.Tests.Cluster.ClusterFixtures;

namespace Rbee.Queen.Tests.Telemetry;

/// <summary>
/// The queen's subscription to one hive against a scripted hive in process: liveness of a stream that opens and stays
/// silent, frames passed on as they came, and when the model catalog is fetched. Liveness runs on fake time; the
/// network and the resubscribe backoff run on real time.
/// </summary>
public sealed class HiveSubscriptionsTests : IAsyncLifetime
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _clock = Clock();
    private readonly ProtocolOptions _protocol = new();
    private readonly ClusterRegistry _registry;
    private readonly ClusterHttp _http;
    private FakeHive _hive = null!;
    private HiveSubscriptions _subscriptions = null!;

    public HiveSubscriptionsTests()
    {
        _registry = new ClusterRegistry(new HiveLiveness(_protocol), _clock, NullLogger<ClusterRegistry>.Instance);
        var token = new ClusterTokenOptions { ClusterToken = "cluster-secret" };
        Assert.Null(token.Resolve(_ => null));
        _http = new ClusterHttp(token.Token);
    }

    public async Task InitializeAsync()
    {
        _hive = await FakeHive.StartAsync();
        var options = new QueenOptions
        {
            ResubscribeBackoffInitial = TimeSpan.FromMilliseconds(50),
            ResubscribeBackoffMax = TimeSpan.FromMilliseconds(200),
        };
        _subscriptions = new HiveSubscriptions(_registry, _http, Options.Create(options), NullLogger<HiveSubscriptions>.Instance);
    }

    public async Task DisposeAsync()
    {
        _subscriptions.Dispose();
        await _hive.DisposeAsync();
        _http.Dispose();
    }

    private HiveEntry? Hive => _registry.Current.Find(HiveId);

    private void Accept() =>
        Assert.Equal(ReadyOutcome.Registered, _subscriptions.Accept(Ready(url: _hive.Url.ToString()), _hive.Url));

    private async Task WaitForViewAsync(string phase, string expected, Func<HiveEntry, bool> holds)
    {
        using var cts = new CancellationTokenSource(Budget);
        try
        {
            await _registry.WaitForAsync(s => s.Find(HiveId) is { } h && holds(h), Timeout.InfiniteTimeSpan, cts.Token);
        }
        catch (OperationCanceledException)
        {
            var h = Hive;
            throw new TimeoutException($"phase {phase}: expected {expected} within {Budget.TotalSeconds} s; the view shows " +
                (h is null ? "no hive" : $"{h.State.ToWire()} ({h.Reason}), last seq {h.LastSeq}, catalog {h.Catalog?.Version.ToString() ?? "none"}"));
        }
    }

    private static string FrameJson(long seq, long? modelsVersion = null) =>
        JsonSerializer.Serialize(Frame(seq) with { ModelsVersion = modelsVersion }, RbeeJsonContext.Default.TelemetryFrame);

    private static string CatalogJson(long version) => JsonSerializer.Serialize(Catalog(version), RbeeJsonContext.Default.ModelCatalog);

    [Fact]
    public async Task ConnectingHive_WhoseStreamOpensButNeverSendsAFrame_IsOfflineByLiveness_AndTheQueenDropsTheLink()
    {
        Accept();
        await _hive.StreamOpenedAsync("subscribe");
        await WaitForViewAsync("stream open", "the stream's opening in the view", h => h.StreamOpenedAt is not null);
        Assert.Equal(HiveState.Connecting, Hive!.State);

        // Nothing but liveness ends this stream: no watchdog of the subscription's own fires, however long it stays open.
        _clock.Advance(_protocol.OfflineAfter - TimeSpan.FromMilliseconds(1));
        _registry.Tick();
        Assert.Equal(HiveState.Connecting, Hive!.State);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        _registry.Tick();
        Assert.Equal(HiveState.Offline, Hive!.State);
        Assert.Equal("no first frame 10000 ms after the stream opened", Hive.Reason);

        Assert.True(await _hive.StreamEndedAsync("liveness verdict"), "the hive's stream ended without the queen dropping it");
        // The queen subscribes again (with backoff) and the hive is connecting again.
        await _hive.StreamOpenedAsync("resubscribe");
        await WaitForViewAsync("resubscribe", "connecting again", h => h.State == HiveState.Connecting);
        _hive.Send(FrameJson(0));
        await WaitForViewAsync("first frame", "online", h => h.State == HiveState.Online);
    }

    [Fact]
    public async Task Frames_ReachTheAggregateStream_AsTheHiveSentThem()
    {
        using var hub = new ClusterEventHub(_registry);
        using var reader = hub.Subscribe();
        Accept();
        await _hive.StreamOpenedAsync("subscribe");
        var sent = FrameJson(0, modelsVersion: null).Replace("\"seq\":0", "\"seq\":0,\"x_future\":[1, 2]  ", StringComparison.Ordinal);
        _hive.Send(sent);
        using var cts = new CancellationTokenSource(Budget);
        while (true)
        {
            var e = await reader.Reader.ReadAsync(cts.Token);
            if (e.Name != StreamEvents.Telemetry) continue;
            Assert.Equal(sent, Encoding.UTF8.GetString(e.Json.Span));
            break;
        }
    }

    [Fact]
    public async Task Catalog_IsFetchedOnSubscribe_WithTheClusterToken_AndAgainWhenAFrameAnnouncesAnotherVersion()
    {
        using var changes = _registry.Subscribe();
        _hive.Catalog = () => (200, CatalogJson(1));
        Accept();
        Assert.Equal("Bearer cluster-secret", await _hive.CatalogRequestedAsync("subscribe"));
        await WaitForViewAsync("subscribe", "catalog version 1", h => h.Catalog?.Version == 1);

        await _hive.StreamOpenedAsync("subscribe");
        _hive.Send(FrameJson(0, modelsVersion: 1));
        _hive.Catalog = () => (200, CatalogJson(2));
        _hive.Send(FrameJson(1, modelsVersion: 2));
        await _hive.CatalogRequestedAsync("frame announcing version 2");
        await WaitForViewAsync("refetch", "catalog version 2", h => h.Catalog?.Version == 2);
        _hive.Send(FrameJson(2, modelsVersion: 2));
        await WaitForViewAsync("same version", "frame 2 applied", h => h.LastSeq == 2);
        Assert.Equal(0, _hive.CatalogRequestsPending);
        Assert.Equal([1L, 2L], changes.Drain().OfType<CatalogChanged>().Select(c => c.Catalog.Version));
    }

    [Fact]
    public async Task OlderHive_Answering404_IsNotAskedAgain_UntilItAnnouncesAVersion()
    {
        Accept();
        await _hive.CatalogRequestedAsync("subscribe");
        await _hive.StreamOpenedAsync("subscribe");
        for (var seq = 0; seq < 3; seq++) _hive.Send(FrameJson(seq, modelsVersion: null));
        await WaitForViewAsync("frames without a version", "frame 2 applied", h => h.LastSeq == 2);

        _hive.Catalog = () => (200, CatalogJson(5));
        _hive.Send(FrameJson(3, modelsVersion: 5));
        await _hive.CatalogRequestedAsync("frame announcing version 5");
        await WaitForViewAsync("catalog", "catalog version 5", h => h.Catalog?.Version == 5);
        Assert.Equal(0, _hive.CatalogRequestsPending);
    }

    [Theory]
    [InlineData(200, "{\"hive_id\":\"gpu-box\",\"instance_id\":\"i1\",\"version\":4,\"models\":[]}", CatalogFetchOutcome.Fetched)]
    [InlineData(404, "", CatalogFetchOutcome.NotFound)]
    [InlineData(500, "{}", CatalogFetchOutcome.Failed)]
    [InlineData(401, "{}", CatalogFetchOutcome.Failed)]
    [InlineData(200, "not json", CatalogFetchOutcome.Failed)]
    public async Task CatalogClient_TellsFetchedFromMissingFromFailed(int status, string body, CatalogFetchOutcome expected)
    {
        _hive.Catalog = () => (status, body);
        using var cts = new CancellationTokenSource(Budget);
        var (outcome, catalog, _) = await HiveCatalogClient.FetchAsync(_http, _hive.Url, cts.Token);
        Assert.Equal(expected, outcome);
        Assert.Equal(expected == CatalogFetchOutcome.Fetched, catalog is { Version: 4 });
    }

    [Fact]
    public async Task CatalogClient_HiveGone_IsFailed()
    {
        using var cts = new CancellationTokenSource(Budget);
        var (outcome, _, error) = await HiveCatalogClient.FetchAsync(_http, new Uri($"http://127.0.0.1:{Rbee.Testing.FreePort.Next()}"), cts.Token);
        Assert.Equal(CatalogFetchOutcome.Failed, outcome);
        Assert.NotNull(error);
    }
}
