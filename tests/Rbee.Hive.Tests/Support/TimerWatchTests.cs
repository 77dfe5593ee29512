namespace Rbee.Hive.Tests.Support;

/// <summary>The helper the time-driven tests stand on does what they assume of it.</summary>
public sealed class TimerWatchTests
{
    private static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void AdvanceTo_FiresEachTimerInDueOrder_WithTheClockAtItsDueTime()
    {
        var clock = new TimerWatch();
        var seen = new List<(string, TimeSpan)>();
        using var periodic = clock.CreateTimer(_ => seen.Add(("tick", clock.Elapsed)), null, S(1), S(1));
        using var once = clock.CreateTimer(_ => seen.Add(("once", clock.Elapsed)), null, S(2.5), Timeout.InfiniteTimeSpan);
        clock.AdvanceTo(S(3));
        Assert.Equal([("tick", S(1)), ("tick", S(2)), ("once", S(2.5)), ("tick", S(3))], seen);
        Assert.Equal([S(4)], clock.PendingTimers);
    }

    [Fact]
    public async Task WaitForTimer_SeesATimerArmedLater_AndForgetsOneChangedAwayOrDisposed()
    {
        var clock = new TimerWatch();
        var timer = clock.CreateTimer(_ => { }, null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        var created = clock.TimersCreated;
        var waiting = clock.WaitForTimerAsync(S(5), "armed later");
        Assert.False(waiting.IsCompleted);
        timer.Change(S(5), Timeout.InfiniteTimeSpan);
        await waiting;
        timer.Change(S(6), Timeout.InfiniteTimeSpan);
        Assert.Equal([S(6)], clock.PendingTimers);
        timer.Dispose();
        Assert.Empty(clock.PendingTimers);
        clock.AdvanceTo(S(10));
        Assert.Equal(created, clock.TimersCreated);
    }

    [Fact]
    public async Task ATimerSeenArmed_FiresAtThatTime_EvenWhenTheClockMovesTheMomentItIsSeen()
    {
        // The code under test arms timers on pool threads while the test thread moves time. A timer seen armed must
        // already exist with its due time counted from the instant it was seen; if the clock could step in between, the
        // timer would fire a step late and the test waiting for it would hang (a CI flake in ReadySequenceTests).
        var clock = new TimerWatch();
        for (var i = 0; i < 2000; i++)
        {
            var due = clock.Elapsed + S(2);
            var fired = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
            var arming = Task.Run(() => clock.CreateTimer(_ => fired.TrySetResult(clock.Elapsed), null, S(2), Timeout.InfiniteTimeSpan));
            await clock.WaitForTimerAsync(due, $"round {i}", clock.TimersCreated - 1);
            clock.AdvanceTo(due);
            using var timer = await arming;
            Assert.True(fired.Task.IsCompleted, $"round {i}: the timer seen due at {due.TotalSeconds} s had not fired at {clock.Elapsed.TotalSeconds} s");
            Assert.Equal(due, await fired.Task);
        }
    }
}
