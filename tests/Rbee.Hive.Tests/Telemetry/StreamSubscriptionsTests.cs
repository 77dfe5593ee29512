using Rbee.Hive.Telemetry;

namespace Rbee.Hive.Tests.Telemetry;

public class StreamSubscriptionsTests
{
    [Fact]
    public void LastClosed_FiresOnlyWhenTheLastSubscriptionCloses()
    {
        var s = new StreamSubscriptions();
        var fired = 0;
        s.LastClosed += () => fired++;
        s.Opened();
        s.Opened();
        s.Closed();
        Assert.Equal(0, fired);
        Assert.Equal(1, s.OpenCount);
        s.Closed();
        Assert.Equal(1, fired);
        Assert.Equal(0, s.OpenCount);
    }

    [Fact]
    public async Task WaitForOpen_CompletesOnTheNextOpen_OrAtOnceWhenOneIsOpen()
    {
        var s = new StreamSubscriptions();
        var wait = s.WaitForOpenAsync(CancellationToken.None);
        Assert.False(wait.IsCompleted);
        s.Opened();
        await wait.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(s.WaitForOpenAsync(CancellationToken.None).IsCompleted);
    }
}
