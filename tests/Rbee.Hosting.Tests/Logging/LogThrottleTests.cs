using Microsoft.Extensions.Time.Testing;
using Rbee.Hosting.Logging;

namespace Rbee.Hosting.Tests.Logging;

public sealed class LogThrottleTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    [Fact]
    public void TheFirstRefusalOfAnAddressIsLogged_TheRestOfItsIntervalAreCounted_AndReportedWithTheNextLine()
    {
        var time = new FakeTimeProvider();
        var throttle = new LogThrottle(time, Interval);
        Assert.True(throttle.TryEnter("10.0.0.9", out var held));
        Assert.Equal(0, held);
        for (var i = 0; i < 500; i++) Assert.False(throttle.TryEnter("10.0.0.9", out _));
        Assert.True(throttle.TryEnter("10.0.0.7", out _)); // another address has its own line
        time.Advance(Interval);
        Assert.True(throttle.TryEnter("10.0.0.9", out held));
        Assert.Equal(500, held);
    }

    [Fact]
    public void ManyAddresses_ShareOneLineBeyondTheBound()
    {
        var time = new FakeTimeProvider();
        var throttle = new LogThrottle(time, Interval, maxKeys: 4);
        var logged = Enumerable.Range(0, 1000).Count(i => throttle.TryEnter($"10.0.{i / 256}.{i % 256}", out _));
        Assert.Equal(5, logged); // four addresses of their own, then one line for all the others
        time.Advance(Interval);
        Assert.True(throttle.TryEnter("192.168.1.1", out _)); // windows that passed make room again
    }
}
