using Rbee.Queen.Discovery;

namespace Rbee.Queen.Tests.Discovery;

public sealed class BackoffTests
{
    [Fact]
    public void ProbeSchedule_Is5sDoublingTo60s()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60));
        Assert.Equal([5, 10, 20, 40, 60, 60, 60], Enumerable.Range(0, 7).Select(i => backoff.Delay(i).TotalSeconds));
    }

    [Fact]
    public void LargeAttempts_StayAtTheMaximum()
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(10));
        Assert.Equal(TimeSpan.FromSeconds(10), backoff.Delay(29));
        Assert.Equal(TimeSpan.FromSeconds(10), backoff.Delay(1000));
    }
}
