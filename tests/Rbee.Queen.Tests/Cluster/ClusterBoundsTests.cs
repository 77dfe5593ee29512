using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;
using static Rbee.Queen.Tests.Cluster.ClusterFixtures;

namespace Rbee.Queen.Tests.Cluster;

/// <summary>
/// The view's bounds (issue 12 §3): at most <see cref="ClusterOptions.MaxHives"/> hives, offline ones making room for
/// new ones, and hives offline past <see cref="ClusterOptions.ForgetOfflineAfter"/> forgotten unless the SSH config names them.
/// </summary>
public sealed class ClusterBoundsTests
{
    private readonly Microsoft.Extensions.Time.Testing.FakeTimeProvider _clock = Clock();

    private static HiveReady ReadyOf(string id) => Ready(instance: "i-" + id, url: $"http://10.0.1.{id.Length}:7835/{id}", hiveId: id);

    private static void Online(ClusterRegistry registry, string id, string? instance = null)
    {
        var ready = ReadyOf(id) with { InstanceId = instance ?? "i-" + id };
        registry.Ready(ready, new Uri(ready.HiveUrl));
        registry.ApplyFrame(new TelemetryFrame(id, ready.InstanceId, 0, DateTimeOffset.UnixEpoch, new NodeStats(5, 1, 2, []), []));
    }

    [Fact]
    public void AtTheBound_ANewHiveTakesThePlaceOfTheOneOfflineLongest_AndIsRefusedWhenAllAreLive()
    {
        var registry = Registry(_clock, options: new ClusterOptions { MaxHives = 3 });
        Online(registry, "a");
        Online(registry, "bb");
        _clock.Advance(TimeSpan.FromMinutes(1));
        Online(registry, "ccc");
        registry.StreamClosed("a", "i-a", "gone");
        registry.StreamClosed("ccc", "i-ccc", "gone");
        Assert.Equal(3, registry.Current.Hives.Count);

        // "a" was heard from first: it makes room.
        var d = ReadyOf("dddd");
        Assert.Equal(ReadyOutcome.Registered, registry.Ready(d, new Uri(d.HiveUrl)));
        Assert.Null(registry.Current.Find("a"));
        Assert.NotNull(registry.Current.Find("ccc"));

        Online(registry, "dddd");
        Online(registry, "ccc", instance: "i-ccc-restarted");
        var e = ReadyOf("eeeee");
        Assert.Equal(ReadyOutcome.Full, registry.Ready(e, new Uri(e.HiveUrl)));
        Assert.Equal(3, registry.Current.Hives.Count);
        // A hive already in the view is never refused for the bound.
        var again = ReadyOf("bb") with { InstanceId = "i-bb-2" };
        Assert.Equal(ReadyOutcome.Restarted, registry.Ready(again, new Uri(again.HiveUrl)));
    }

    [Fact]
    public void AHiveOfflineLongerThanTheLimit_IsForgotten_UnlessTheSshConfigNamesIt()
    {
        var registry = Registry(_clock, options: new ClusterOptions { ForgetOfflineAfter = TimeSpan.FromHours(1) });
        Online(registry, "a");
        Online(registry, "ssh-box");
        registry.KeepOffline(h => h.HiveId == "ssh-box");
        registry.StreamClosed("a", "i-a", "gone");
        registry.StreamClosed("ssh-box", "i-ssh-box", "gone");

        _clock.Advance(TimeSpan.FromMinutes(59));
        registry.ForgetLongOffline();
        Assert.NotNull(registry.Current.Find("a"));

        var version = registry.Current.Version;
        _clock.Advance(TimeSpan.FromMinutes(2));
        registry.ForgetLongOffline();
        Assert.Null(registry.Current.Find("a"));
        Assert.Equal(HiveState.Offline, registry.Current.Find("ssh-box")!.State);
        Assert.True(registry.Current.Version > version);

        // A live hive is never forgotten, however old its ready.
        Online(registry, "live");
        _clock.Advance(TimeSpan.FromHours(5));
        registry.ApplyFrame(new TelemetryFrame("live", "i-live", 1, DateTimeOffset.UnixEpoch, new NodeStats(5, 1, 2, []), []));
        registry.ForgetLongOffline();
        Assert.NotNull(registry.Current.Find("live"));
    }

    [Theory]
    [InlineData(0, 3600, 2, "Cluster:MaxHives")]
    [InlineData(10, 0, 2, "Cluster:ForgetOfflineAfter")]
    [InlineData(10, 3600, 0, "Cluster:ConfirmTimeout")]
    public void BadBounds_AreNamed(int maxHives, int forgetSeconds, int confirmSeconds, string named) =>
        Assert.StartsWith(named, new ClusterOptions
        {
            MaxHives = maxHives, ForgetOfflineAfter = TimeSpan.FromSeconds(forgetSeconds), ConfirmTimeout = TimeSpan.FromSeconds(confirmSeconds),
        }.Validate());
}
