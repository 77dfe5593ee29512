using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;

namespace Rbee.Queen.Tests.Cluster;

public sealed class HiveLivenessTests
{
    private static readonly DateTimeOffset LastFrame = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(0, HiveStates.Online)]
    [InlineData(2999, HiveStates.Online)]
    [InlineData(3000, HiveStates.Degraded)]
    [InlineData(9999, HiveStates.Degraded)]
    [InlineData(10000, HiveStates.Offline)]
    [InlineData(60000, HiveStates.Offline)]
    public void ProtocolDefaults_DegradedAt3s_OfflineAt10s(int ageMs, string expected)
    {
        var liveness = new HiveLiveness(new ProtocolOptions());
        Assert.Equal(expected, liveness.StateAt(LastFrame, LastFrame.AddMilliseconds(ageMs)));
    }
}
