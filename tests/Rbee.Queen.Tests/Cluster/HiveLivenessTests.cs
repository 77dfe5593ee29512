using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;

namespace Rbee.Queen.Tests.Cluster;

public sealed class HiveLivenessTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly HiveLiveness Liveness = new(new ProtocolOptions());

    private static HiveEntry Entry(HiveState state, DateTimeOffset? lastFrameAt = null, DateTimeOffset? openedAt = null) => new()
    {
        HiveId = "h", HiveUrl = new Uri("http://h:7835"), InstanceId = "i", State = state,
        AcceptedAt = T0, LastFrameAt = lastFrameAt, StreamOpenedAt = openedAt,
    };

    [Theory]
    [InlineData(0, HiveState.Online)]
    [InlineData(2999, HiveState.Online)]
    [InlineData(3000, HiveState.Degraded)]
    [InlineData(9999, HiveState.Degraded)]
    [InlineData(10000, HiveState.Offline)]
    [InlineData(60000, HiveState.Offline)]
    public void ProtocolDefaults_DegradedAt3s_OfflineAt10s(int ageMs, HiveState expected)
    {
        Assert.Equal(expected, Liveness.StateAt(T0, T0.AddMilliseconds(ageMs)));
        Assert.Equal(expected, Liveness.Judge(Entry(HiveState.Online, T0), T0.AddMilliseconds(ageMs)).State);
    }

    [Theory]
    [InlineData(2999, HiveState.Connecting)]
    [InlineData(3000, HiveState.Connecting)]
    [InlineData(9999, HiveState.Connecting)]
    [InlineData(10000, HiveState.Offline)]
    public void Connecting_NeverDegraded_OfflineAt10sWithoutAFirstFrame(int ageMs, HiveState expected) =>
        Assert.Equal(expected, Liveness.Judge(Entry(HiveState.Connecting), T0.AddMilliseconds(ageMs)).State);

    [Fact]
    public void Connecting_CountsFromTheStreamOpening_WhenThereIsOne()
    {
        var opened = Entry(HiveState.Connecting, openedAt: T0.AddSeconds(5));
        Assert.Equal(HiveState.Connecting, Liveness.Judge(opened, T0.AddSeconds(14)).State);
        Assert.Equal(HiveState.Offline, Liveness.Judge(opened, T0.AddSeconds(15)).State);
    }

    [Theory]
    [InlineData(HiveState.Offline)]
    [InlineData(HiveState.Incompatible)]
    public void OfflineAndIncompatible_AreLeftAsTheyAre(HiveState state) =>
        Assert.Equal((state, (string?)null), Liveness.Judge(Entry(state, T0), T0.AddHours(1)));

    [Fact]
    public void AReasonOnlyWhenTheStateChanges()
    {
        Assert.Null(Liveness.Judge(Entry(HiveState.Online, T0), T0.AddSeconds(1)).Reason);
        Assert.Equal("no frame for 3500 ms", Liveness.Judge(Entry(HiveState.Online, T0), T0.AddMilliseconds(3500)).Reason);
        Assert.Null(Liveness.Judge(Entry(HiveState.Degraded, T0), T0.AddMilliseconds(3500)).Reason);
    }
}
