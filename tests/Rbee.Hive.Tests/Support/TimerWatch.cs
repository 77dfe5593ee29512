using Microsoft.Extensions.Time.Testing;

namespace Rbee.Hive.Tests.Support;

/// <summary>
/// <see cref="FakeTimeProvider"/> (STYLE.md §8: one driver of fake time; timers fire only when the test moves time) plus
/// what it does not offer: the timers the code under test has armed, <see cref="WaitForTimerAsync"/> to wait (in real
/// time, bounded) until the one a test expects is armed, so moving time never races the code that arms it, and
/// <see cref="AdvanceTo"/>, which stops at each armed timer on the way so that every one fires with the clock at its own
/// due time (<see cref="FakeTimeProvider.Advance"/> fires them all with the clock already at the end).
/// </summary>
internal sealed class TimerWatch : FakeTimeProvider
{
    public static readonly DateTimeOffset Origin = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly object _gate = new();

    // Held while a timer is created or changed and while the clock takes a step: a timer the test sees armed exists in
    // the fake provider with its due time counted from the same instant, so moving time never runs between the two.
    // Reentrant, so a callback that fires during a step may arm timers on its own thread.
    private readonly object _time = new();
    private readonly List<WatchedTimer> _armed = [];
    private long _created;
    private TaskCompletionSource _changed = NewSignal();

    public TimerWatch() : base(Origin) { }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Time since <see cref="Origin"/>.</summary>
    public TimeSpan Elapsed => GetUtcNow() - Origin;

    /// <summary>Advances to exactly <paramref name="elapsed"/> since <see cref="Origin"/>, firing every timer that falls
    /// due on the way in due order, each with the clock at its due time.</summary>
    public void AdvanceTo(TimeSpan elapsed)
    {
        var target = Origin + elapsed;
        while (true)
        {
            var now = GetUtcNow();
            DateTimeOffset? next;
            lock (_gate) next = _armed.Where(t => t.Due > now && t.Due <= target).Select(t => (DateTimeOffset?)t.Due).Min();
            if (next is not { } due) break;
            lock (_time) SetUtcNow(due);
        }
        lock (_time) SetUtcNow(target);
    }

    /// <summary><see cref="AdvanceTo"/> <paramref name="by"/> from now.</summary>
    public void AdvanceBy(TimeSpan by) => AdvanceTo(Elapsed + by);

    /// <summary>Timers created so far; <see cref="WaitForTimerAsync"/> can ignore those created before a point.</summary>
    public long TimersCreated
    {
        get { lock (_gate) return _created; }
    }

    /// <summary>Due times (as elapsed since <see cref="Origin"/>) of every armed timer.</summary>
    public IReadOnlyList<TimeSpan> PendingTimers
    {
        get { lock (_gate) return _armed.Select(t => t.Due - Origin).Order().ToList(); }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        lock (_time)
        {
            long number;
            lock (_gate) number = ++_created;
            var watched = new WatchedTimer(this, number);
            // Noted before the fake timer exists: one due at once fires inside base.CreateTimer (a real timer would fire
            // it on the thread pool at once).
            watched.Armed(dueTime, period);
            watched.Inner = base.CreateTimer(s =>
            {
                watched.Fired();
                callback(s);
            }, state, dueTime, period);
            return watched;
        }
    }

    /// <summary>Waits (real time, bounded) until a timer due at <paramref name="elapsed"/> since <see cref="Origin"/> is armed.</summary>
    public async Task WaitForTimerAsync(TimeSpan elapsed, string phase, long createdAfter = 0)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_armed.Any(t => t.Due - Origin == elapsed && t.Number > createdAfter)) return;
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

    /// <summary>The fake timer, with its due time kept where the test can see it.</summary>
    private sealed class WatchedTimer(TimerWatch clock, long number) : ITimer
    {
        public long Number => number;
        public DateTimeOffset Due { get; private set; }
        public ITimer Inner { get; set; } = null!;
        private TimeSpan _period;

        public void Armed(TimeSpan dueTime, TimeSpan period)
        {
            lock (clock._gate)
            {
                clock._armed.Remove(this);
                _period = period;
                if (dueTime != Timeout.InfiniteTimeSpan)
                {
                    Due = clock.GetUtcNow() + dueTime;
                    clock._armed.Add(this);
                }
            }
            clock.Changed();
        }

        public void Fired()
        {
            lock (clock._gate)
            {
                clock._armed.Remove(this);
                if (_period > TimeSpan.Zero && _period != Timeout.InfiniteTimeSpan)
                {
                    Due = clock.GetUtcNow() + _period;
                    clock._armed.Add(this);
                }
            }
            clock.Changed();
        }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (clock._time)
            {
                Armed(dueTime, period);
                return Inner.Change(dueTime, period);
            }
        }

        public void Dispose()
        {
            Disarmed();
            Inner.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Disarmed();
            return Inner.DisposeAsync();
        }

        private void Disarmed()
        {
            lock (clock._gate) clock._armed.Remove(this);
            clock.Changed();
        }
    }
}
