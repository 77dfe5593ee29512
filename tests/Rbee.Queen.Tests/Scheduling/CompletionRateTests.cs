using Microsoft.Extensions.Time.Testing;
using Rbee.Queen.Scheduling;

namespace Rbee.Queen.Tests.Scheduling;

public sealed class CompletionRateTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch.AddDays(100));

    [Fact]
    public void NoRate_UntilTwoCompletions_ThenRetryAfterFollowsIt()
    {
        var rate = new CompletionRate(_time);
        Assert.Null(rate.PerSecond());
        // Without a rate the measured fallback stands in (rounded up, at least 1 s).
        Assert.Equal(7, rate.RetryAfterSeconds(10, TimeSpan.FromSeconds(6.2), TimeSpan.FromSeconds(120)));
        for (var i = 0; i < 5; i++)
        {
            rate.Completed();
            _time.Advance(TimeSpan.FromMilliseconds(500));
        }
        // 5 completions 0.5 s apart, measured until now (2.5 s after the first): 4 / 2.5 = 1.6 per second.
        Assert.Equal(1.6, rate.PerSecond()!.Value, 3);
        Assert.Equal(7, rate.RetryAfterSeconds(10, TimeSpan.Zero, TimeSpan.FromSeconds(120)));
        Assert.Equal(1, rate.RetryAfterSeconds(1, TimeSpan.Zero, TimeSpan.FromSeconds(120)));
        Assert.Equal(3, rate.RetryAfterSeconds(1000, TimeSpan.Zero, TimeSpan.FromSeconds(3)));
    }

    [Fact]
    public void OldCompletions_StopCounting()
    {
        var rate = new CompletionRate(_time);
        rate.Completed();
        rate.Completed();
        _time.Advance(CompletionRate.Window + TimeSpan.FromSeconds(1));
        Assert.Null(rate.PerSecond());
    }
}
