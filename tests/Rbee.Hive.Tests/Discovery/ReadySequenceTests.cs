using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Hive.Discovery;
using Rbee.Hive.Telemetry;
using Rbee.Hive.Tests.Support;

namespace Rbee.Hive.Tests.Discovery;

/// <summary>DESIGN.md "Discovery and telemetry" 1 and 5, on a clock the test drives.</summary>
public sealed class ReadySequenceTests : IDisposable
{
    private static readonly Uri Queen = new("http://queen.lan:7833");
    private static readonly Uri OtherQueen = new("http://other.lan:7833");
    private static readonly TimeSpan[] TryTimes = [S(0), S(2), S(6), S(14), S(30)];

    private readonly TimerWatch _clock = new();
    private readonly ScriptedQueen _queen;
    private readonly StreamSubscriptions _subscriptions = new();
    private readonly RecordingLogger<ReadySequence> _log = new();
    private readonly ReadySequence _sequence;

    public ReadySequenceTests()
    {
        _queen = new ScriptedQueen(_clock);
        _sequence = new ReadySequence(_queen, () => new HiveReady("hive-a", "http://10.0.0.5:7835", "inst-1", "0.1.0", 1),
            _subscriptions, Queen, new ProtocolOptions(), _clock, _log);
    }

    public void Dispose() => _sequence.Dispose();

    private static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    /// <summary>A queen that answers each ready with the next scripted outcome (default: connection refused).</summary>
    private sealed class ScriptedQueen(TimerWatch clock) : IQueenReadyClient
    {
        public Channel<(TimeSpan At, Uri Queen, long Timers)> Calls { get; } = Channel.CreateUnbounded<(TimeSpan, Uri, long)>();
        public Queue<Func<CancellationToken, Task<ReadyOutcome>>> Script { get; } = new();

        public Task<ReadyOutcome> PostReadyAsync(Uri queen, HiveReady ready, CancellationToken ct)
        {
            Func<CancellationToken, Task<ReadyOutcome>>? next;
            lock (Script) next = Script.Count > 0 ? Script.Dequeue() : null;
            Calls.Writer.TryWrite((clock.Elapsed, queen, clock.TimersCreated));
            return next?.Invoke(ct) ?? Task.FromResult(ReadyOutcome.Failed("Connection refused"));
        }

        public void Then(ReadyOutcome outcome)
        {
            lock (Script) Script.Enqueue(_ => Task.FromResult(outcome));
        }

        public void ThenHang()
        {
            lock (Script) Script.Enqueue(async ct => { await Task.Delay(Timeout.Infinite, ct); return ReadyOutcome.Accepted(); });
        }

        public async Task<(TimeSpan At, Uri Queen, long Timers)> NextCallAsync(string phase)
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                return await Calls.Reader.ReadAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{phase}: expected a ready call at {clock.Elapsed.TotalSeconds} s, none came");
            }
        }

        public int Pending => Calls.Reader.Count;
    }

    // Timers armed before the last ready call (its own time-out) are not what the next step waits on.
    private long _timersAtLastCall;

    private Task WaitForTimer(TimeSpan at, string phase) => _clock.WaitForTimerAsync(at, phase, _timersAtLastCall);

    private async Task ExpectCallAt(TimeSpan at, Uri queen, string phase)
    {
        if (_clock.Elapsed != at)
        {
            await WaitForTimer(at, phase);
            _clock.AdvanceTo(at);
        }
        var call = await _queen.NextCallAsync(phase);
        _timersAtLastCall = call.Timers;
        Assert.Equal(at, call.At);
        Assert.Equal(queen, call.Queen);
    }

    private static async Task Completed(Task run, string phase)
    {
        try
        {
            await run.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{phase}: the ready sequence did not finish");
        }
    }

    [Fact]
    public async Task FailingQueen_TriesAt0_2_6_14_30_ThenOneLineAndSilence()
    {
        Assert.True(_sequence.Trigger(null, "start"));
        for (var i = 0; i < TryTimes.Length; i++) await ExpectCallAt(TryTimes[i], Queen, $"try {i + 1}");
        await Completed(_sequence.Completion, "after the fifth try");

        Assert.Equal(ReadyState.GaveUp, _sequence.State);
        Assert.Empty(_clock.PendingTimers);
        _clock.AdvanceBy(TimeSpan.FromHours(1));
        Assert.Equal(0, _queen.Pending);

        // Operator-visible lines: started, first miss, gave up. The tries between are Debug.
        var visible = _log.AtLeast(LogLevel.Information);
        Assert.Equal([HiveEventIds.ReadyStarted, HiveEventIds.ReadyFirstTryFailed, HiveEventIds.ReadyGaveUp], visible.Select(e => e.EventId));
        Assert.Single(_log.AtLeast(LogLevel.Warning));
        Assert.Contains("5 tries", visible[^1].Message);
    }

    [Fact]
    public async Task TryThatHangs_IsCutAfter5Seconds_AndTheNextTrySleepsItsOwnDelay()
    {
        _queen.ThenHang();
        Assert.True(_sequence.Trigger(null, "start"));
        await ExpectCallAt(S(0), Queen, "try 1 (hangs)");
        await _clock.WaitForTimerAsync(S(5), "try 1 time-out (armed before the call)");
        _clock.AdvanceTo(S(5));
        await ExpectCallAt(S(7), Queen, "try 2, 2 s after the time-out");
    }

    [Fact]
    public async Task Accepted_ThenSubscribed_Stops()
    {
        _queen.Then(ReadyOutcome.Failed("refused"));
        _queen.Then(ReadyOutcome.Failed("refused"));
        _queen.Then(ReadyOutcome.Accepted());
        Assert.True(_sequence.Trigger(null, "start"));
        await ExpectCallAt(S(0), Queen, "try 1");
        await ExpectCallAt(S(2), Queen, "try 2");
        await ExpectCallAt(S(6), Queen, "try 3 (accepted)");

        await WaitForTimer(S(11), "waiting for the subscription");
        Assert.Equal(ReadyState.AwaitingSubscription, _sequence.State);
        _subscriptions.Opened();
        await Completed(_sequence.Completion, "after the subscription opened");
        Assert.Equal(ReadyState.Subscribed, _sequence.State);
        _clock.AdvanceBy(TimeSpan.FromHours(1));
        Assert.Equal(0, _queen.Pending);
    }

    [Fact]
    public async Task Accepted_ButNoSubscriptionWithin5Seconds_RunsAgain()
    {
        _queen.Then(ReadyOutcome.Accepted());
        _queen.Then(ReadyOutcome.Accepted());
        Assert.True(_sequence.Trigger(null, "start"));
        await ExpectCallAt(S(0), Queen, "first ready (accepted)");
        await ExpectCallAt(S(5), Queen, "ready again after 5 s without a subscription");
        await WaitForTimer(S(10), "waiting for the subscription again");
        _subscriptions.Opened();
        await Completed(_sequence.Completion, "after the subscription opened");
        Assert.Equal(ReadyState.Subscribed, _sequence.State);
    }

    [Fact]
    public async Task SubscriptionAlreadyOpen_CountsAsSubscribed()
    {
        _subscriptions.Opened();
        _queen.Then(ReadyOutcome.Accepted());
        Assert.True(_sequence.Trigger(null, "start"));
        await ExpectCallAt(S(0), Queen, "ready");
        await Completed(_sequence.Completion, "after ready");
        Assert.Equal(ReadyState.Subscribed, _sequence.State);
    }

    [Fact]
    public async Task TriggerWhileRunning_ForTheSameQueen_DoesNothing()
    {
        Assert.True(_sequence.Trigger(null, "start"));
        await ExpectCallAt(S(0), Queen, "try 1");
        Assert.False(_sequence.Trigger(Queen, "again"));
        Assert.False(_sequence.Trigger(null, "again"));
        await ExpectCallAt(S(2), Queen, "try 2 of the same run");
        Assert.Equal(0, _queen.Pending);
        await ExpectCallAt(S(6), Queen, "try 3 of the same run");
    }

    [Fact]
    public async Task TheQueenAsking_WhileTheRunSleeps_TriesAtOnce_ThenTheScheduleGoesOn()
    {
        Assert.True(_sequence.Trigger(null, "telemetry stream closed"));
        await ExpectCallAt(S(0), Queen, "try 1 (the queen is restarting)");
        await WaitForTimer(S(2), "sleep before try 2");
        _clock.AdvanceTo(S(1));

        // The restarted queen's probe (/capabilities?queen_url=) proves it is up: no waiting out the sleep.
        Assert.False(_sequence.Trigger(Queen, "asked by /capabilities?queen_url=", queenAsked: true));
        await ExpectCallAt(S(1), Queen, "try 2, at once");
        await ExpectCallAt(S(5), Queen, "try 3, its own 4 s sleep after try 2");
        Assert.Equal(0, _queen.Pending);
    }

    [Fact]
    public async Task TheQueenAsking_DuringATry_SkipsTheNextSleepOnly()
    {
        _queen.ThenHang();
        Assert.True(_sequence.Trigger(null, "start"));
        await ExpectCallAt(S(0), Queen, "try 1 (hangs)");
        Assert.False(_sequence.Trigger(Queen, "asked by /capabilities?queen_url=", queenAsked: true));
        await _clock.WaitForTimerAsync(S(5), "try 1 time-out (armed before the call)");
        _clock.AdvanceTo(S(5));
        await ExpectCallAt(S(5), Queen, "try 2 right after the time-out, its sleep skipped");
        await ExpectCallAt(S(9), Queen, "try 3 after its own 4 s sleep");
    }

    [Fact]
    public async Task TriggerWhileRunning_ForAnotherQueen_ReplacesTheRun()
    {
        Assert.True(_sequence.Trigger(null, "start"));
        await ExpectCallAt(S(0), Queen, "try 1 toward the first queen");
        await WaitForTimer(S(2), "sleep before try 2");
        _clock.AdvanceTo(S(1));

        Assert.True(_sequence.Trigger(OtherQueen, "queen_url"));
        await ExpectCallAt(S(1), OtherQueen, "try 1 toward the other queen, at once");
        Assert.Equal(OtherQueen, _sequence.QueenUrl);
        await ExpectCallAt(S(3), OtherQueen, "try 2 toward the other queen");
        // The first run's sleep (due at 2 s) was cancelled: no call went to the first queen.
        Assert.Equal(0, _queen.Pending);
    }

    [Fact]
    public async Task AfterGivingUp_ATriggerStartsAFreshSequence()
    {
        var schedule = new ProtocolOptions();
        Assert.True(_sequence.Trigger(null, "start"));
        for (var i = 0; i < TryTimes.Length; i++) await ExpectCallAt(TryTimes[i], Queen, $"try {i + 1}");
        await Completed(_sequence.Completion, "gave up");
        _clock.AdvanceTo(S(100));

        Assert.True(_sequence.Trigger(null, "telemetry stream closed"));
        await ExpectCallAt(S(100), Queen, "fresh try 1");
        await ExpectCallAt(S(102), Queen, "fresh try 2");
        Assert.Equal(5, schedule.ReadySchedule.Length);
    }

    [Fact]
    public async Task Conflict_IsLoggedAndEndsTheRun()
    {
        _queen.Then(ReadyOutcome.Conflict("hive id hive-a is held by http://10.0.0.9:7835"));
        Assert.True(_sequence.Trigger(null, "start"));
        await ExpectCallAt(S(0), Queen, "ready (409)");
        await Completed(_sequence.Completion, "after 409");
        Assert.Equal(ReadyState.Conflict, _sequence.State);
        var error = Assert.Single(_log.AtLeast(LogLevel.Error));
        Assert.Contains("409", error.Message);
        Assert.Contains("held by http://10.0.0.9:7835", error.Message);
        _clock.AdvanceBy(TimeSpan.FromHours(1));
        Assert.Equal(0, _queen.Pending);
    }

    [Fact]
    public async Task SameConflictAgain_IsOneErrorLine_NotOnePerTrigger()
    {
        const string detail = "hive id hive-a is held by http://10.0.0.9:7835";
        for (var i = 0; i < 3; i++)
        {
            _queen.Then(ReadyOutcome.Conflict(detail));
            Assert.True(_sequence.Trigger(null, "probed by the queen"));
            await ExpectCallAt(S(0), Queen, $"ready {i + 1} (409)");
            await Completed(_sequence.Completion, $"after 409 number {i + 1}");
        }
        Assert.Single(_log.AtLeast(LogLevel.Error));
        Assert.Equal(3, _log.Entries.Count(e => e.Message.Contains("409", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Dispose_StopsARunningSequence()
    {
        Assert.True(_sequence.Trigger(null, "start"));
        await ExpectCallAt(S(0), Queen, "try 1");
        _sequence.Dispose();
        await Completed(_sequence.Completion, "after dispose");
        _clock.AdvanceBy(TimeSpan.FromHours(1));
        Assert.Equal(0, _queen.Pending);
        Assert.False(_sequence.Trigger(null, "after dispose"));
    }
}
