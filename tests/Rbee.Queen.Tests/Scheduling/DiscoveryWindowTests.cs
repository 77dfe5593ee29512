using Microsoft.Extensions.Options;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Platform.Remote;
using Rbee.Queen.Cluster;
using Rbee.Queen.Remote;
using Rbee.Queen.Scheduling;
using static Rbee.Queen.Tests.Cluster.ClusterFixtures;

namespace Rbee.Queen.Tests.Scheduling;

/// <summary>When a just-started queen stops treating an unknown model as possibly early (docs/routing.md "Admission").</summary>
public sealed class DiscoveryWindowTests : IDisposable
{
    private readonly Microsoft.Extensions.Time.Testing.FakeTimeProvider _clock = Clock();
    private readonly DirectoryInfo _state = Directory.CreateTempSubdirectory("rbee-window-");
    private readonly ClusterRegistry _registry;
    private readonly ManagedHives _managed;

    public DiscoveryWindowTests()
    {
        _registry = Registry(_clock);
        _managed = new ManagedHives(_state.FullName);
    }

    public void Dispose() => _state.Delete(recursive: true);

    private DiscoveryWindow Window() => new(_registry, _managed, Options.Create(new ProtocolOptions()), _clock, _clock.GetUtcNow());

    private void Online(string id)
    {
        var ready = Ready(instance: "i-" + id, url: $"http://10.0.1.{id.Length}:7835", hiveId: id);
        _registry.Ready(ready, new Uri(ready.HiveUrl));
        _registry.ApplyFrame(new TelemetryFrame(id, ready.InstanceId, 0, DateTimeOffset.UnixEpoch, new NodeStats(5, 1, 2, []), []));
    }

    [Fact]
    public void ItIsOpenForOfflineAfter_FromTheQueensStart_WhenNoHiveIsHeard()
    {
        var window = Window();
        Assert.Equal(new ProtocolOptions().OfflineAfter, window.Remaining);
        _clock.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(new ProtocolOptions().OfflineAfter - TimeSpan.FromSeconds(4), window.Remaining);
        _clock.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(TimeSpan.Zero, window.Remaining);
    }

    [Fact]
    public void WithManagedHives_ItClosesWhenEveryOneWantedRunningIsHeard_NotAtTheFirst()
    {
        _managed.Put(new ManagedHive("a", Supervisors.Queen, WantRunning: true));
        _managed.Put(new ManagedHive("bb", Supervisors.Queen, WantRunning: true));
        _managed.Put(new ManagedHive("ccc", Supervisors.Queen, WantRunning: false));
        var window = Window();
        Online("a");
        Assert.True(window.Remaining > TimeSpan.Zero);
        Online("bb");
        Assert.Equal(TimeSpan.Zero, window.Remaining);
    }

    [Fact]
    public void WithoutManagedHives_TheFirstHiveHeardClosesIt_AndItStaysClosed()
    {
        var window = Window();
        Online("a");
        Assert.Equal(TimeSpan.Zero, window.Remaining);
        _registry.StreamClosed("a", "i-a", "test");
        Assert.Equal(TimeSpan.Zero, window.Remaining);
    }
}
