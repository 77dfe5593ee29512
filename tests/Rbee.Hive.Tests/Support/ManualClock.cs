namespace Rbee.Hive.Tests.Support;

/// <summary>
/// A TimeProvider driven by the test (STYLE.md §8: one driver of fake time). Timers fire only inside
/// <see cref="Advance"/>, in due order; <see cref="WaitForTimerAsync"/> lets a test wait (in real time, bounded)
/// until the code under test has armed the timer it expects, so nothing races.
/// </summary>
internal sealed class ManualClock : TimeProvider
{
    public static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly object _gate = new();
    private readonly List<ManualTimer> _timers = [];
    private DateTimeOffset _now = Start;
    private TaskCompletionSource _changed = NewSignal();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override DateTimeOffset GetUtcNow()
    {
        lock (_gate) return _now;
    }

    public override long GetTimestamp() => (GetUtcNow() - Start).Ticks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <summary>Time since <see cref="Start"/>.</summary>
    public TimeSpan Elapsed => GetUtcNow() - Start;

    private long _created;

    /// <summary>Timers created so far; <see cref="WaitForTimerAsync"/> can ignore those created before a point.</summary>
    public long TimersCreated
    {
        get { lock (_gate) return _created; }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        long number;
        lock (_gate) number = ++_created;
        var timer = new ManualTimer(this, callback, state) { Number = number };
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Due times (as elapsed since start) of every armed timer.</summary>
    public IReadOnlyList<TimeSpan> PendingTimers
    {
        get { lock (_gate) return _timers.Select(t => t.Due - Start).Order().ToList(); }
    }

    /// <summary>Moves time forward, firing every timer that falls due on the way, in order.</summary>
    public void Advance(TimeSpan by)
    {
        DateTimeOffset target;
        lock (_gate) target = _now + by;
        while (true)
        {
            ManualTimer? next;
            lock (_gate)
            {
                next = _timers.Where(t => t.Due <= target).MinBy(t => t.Due);
                if (next is null)
                {
                    _now = target;
                    break;
                }
                _now = next.Due;
                _timers.Remove(next);
                if (next.Period > TimeSpan.Zero && next.Period != Timeout.InfiniteTimeSpan)
                {
                    next.Due += next.Period;
                    _timers.Add(next);
                }
            }
            next.Fire();
        }
    }

    /// <summary>Advances to exactly <paramref name="elapsed"/> since start.</summary>
    public void AdvanceTo(TimeSpan elapsed) => Advance(elapsed - Elapsed);

    /// <summary>Waits (real time, bounded) until a timer due at <paramref name="elapsed"/> since start is armed.</summary>
    public async Task WaitForTimerAsync(TimeSpan elapsed, string phase, long createdAfter = 0)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_timers.Any(t => t.Due - Start == elapsed && t.Number > createdAfter)) return;
                changed = _changed.Task;
            }
            try
            {
                await changed.WaitAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{phase}: expected a timer due at {elapsed.TotalSeconds} s; armed: [{string.Join(", ", PendingTimers.Select(t => t.TotalSeconds))}] s");
            }
        }
    }

    private void Changed()
    {
        TaskCompletionSource signal;
        lock (_gate)
        {
            signal = _changed;
            _changed = NewSignal();
        }
        signal.TrySetResult();
    }

    private sealed class ManualTimer(ManualClock clock, TimerCallback callback, object? state) : ITimer
    {
        public long Number { get; init; }
        public DateTimeOffset Due { get; set; }
        public TimeSpan Period { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (clock._gate)
            {
                clock._timers.Remove(this);
                Period = period;
                if (dueTime != Timeout.InfiniteTimeSpan)
                {
                    Due = clock._now + dueTime;
                    clock._timers.Add(this);
                }
            }
            clock.Changed();
            return true;
        }

        public void Fire() => callback(state);

        public void Dispose()
        {
            lock (clock._gate) clock._timers.Remove(this);
            clock.Changed();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
