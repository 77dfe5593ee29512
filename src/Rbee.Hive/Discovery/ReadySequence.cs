using Microsoft.Extensions.Logging;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Hive.Telemetry;

namespace Rbee.Hive.Discovery;

/// <summary>Where the ready sequence is, for <c>/health</c> and tests.</summary>
public enum ReadyState
{
    Idle,
    Trying,
    AwaitingSubscription,
    Subscribed,
    GaveUp,
    Conflict,
}

/// <summary>
/// The hive's ready sequence toward its queen, exactly as DESIGN.md "Discovery and telemetry" 1 and 5 say: sleep
/// <see cref="ProtocolOptions.ReadySchedule"/>[i] (0, 2, 4, 8, 16 s) before try i of <c>POST {queen}/v1/hive/ready</c>,
/// each bounded by <see cref="ProtocolOptions.ReadyTryTimeout"/>; stop at the first 2xx; after the last failure one
/// log line and silence. Single-flight: a trigger while a run is under way does nothing unless it names another
/// queen URL, which replaces the run. After a 2xx, a subscription must open within
/// <see cref="ProtocolOptions.SubscriptionExpectedWithin"/>, else the sequence runs again. A 409 (the hive id is
/// held by another URL) is logged and ends the run. Time comes from <see cref="TimeProvider"/> so tests drive it.
/// </summary>
public sealed partial class ReadySequence : IDisposable
{
    private readonly IQueenReadyClient _client;
    private readonly Func<HiveReady> _ready;
    private readonly StreamSubscriptions _subscriptions;
    private readonly ProtocolOptions _protocol;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private readonly CancellationTokenSource _disposed = new();
    private Uri _queen;
    private Run? _current;
    private ReadyState _state = ReadyState.Idle;
    // The last 409 logged at Error: the queen's discovery probes a hive every few seconds, and each probe triggers a
    // run that meets the same 409; the operator needs that line once, not every five seconds.
    private string? _lastConflict;

    public ReadySequence(IQueenReadyClient client, Func<HiveReady> ready, StreamSubscriptions subscriptions, Uri queen,
        ProtocolOptions protocol, TimeProvider time, ILogger<ReadySequence> logger)
    {
        _client = client;
        _ready = ready;
        _subscriptions = subscriptions;
        _queen = queen;
        _protocol = protocol;
        _time = time;
        _logger = logger;
    }

    private sealed class Run(Uri queen, CancellationTokenSource cts)
    {
        public Uri Queen { get; } = queen;
        public CancellationTokenSource Cts { get; } = cts;
        public bool Finished { get; set; }
        public Task Task { get; set; } = Task.CompletedTask;

        /// <summary>The sleep before the next try, while one lasts (under the sequence's gate).</summary>
        public CancellationTokenSource? Nap { get; set; }

        /// <summary>The queen asked while no sleep lasted: the next sleep is skipped (under the sequence's gate).</summary>
        public bool WakeRequested { get; set; }
    }

    /// <summary>The queen this hive belongs to now: the configured one, or the last that an authorised trigger named.</summary>
    public Uri QueenUrl
    {
        get { lock (_gate) return _queen; }
    }

    public ReadyState State
    {
        get { lock (_gate) return _state; }
    }

    /// <summary>The run under way or last finished (tests await it).</summary>
    internal Task Completion
    {
        get { lock (_gate) return _current?.Task ?? Task.CompletedTask; }
    }

    /// <summary>
    /// Starts the sequence toward <paramref name="queen"/> (null: the current queen). Returns false when a run
    /// toward the same queen is already under way (single-flight) or the sequence is disposed. With
    /// <paramref name="queenAsked"/> (the queen itself called, so it is up now) a run toward it that sleeps before its next
    /// try tries at once instead: a restarted queen is not kept waiting for the rest of a sleep of up to 16 s.
    /// </summary>
    public bool Trigger(Uri? queen, string reason, bool queenAsked = false)
    {
        lock (_gate)
        {
            if (_disposed.IsCancellationRequested) return false;
            queen ??= _queen;
            if (_current is { Finished: false } running)
            {
                if (running.Queen == queen)
                {
                    if (queenAsked && _state == ReadyState.Trying)
                    {
                        if (running.Nap is { } nap) nap.Cancel();
                        else running.WakeRequested = true;
                    }
                    return false;
                }
                running.Cts.Cancel();
                Log.Replaced(_logger, running.Queen.ToString(), queen.ToString());
            }
            _queen = queen;
            var run = new Run(queen, CancellationTokenSource.CreateLinkedTokenSource(_disposed.Token));
            _current = run;
            _state = ReadyState.Trying;
            Log.Started(_logger, queen.ToString(), reason);
            // Started under the lock so Completion never shows a run without its task.
            run.Task = Task.Run(() => RunAsync(run));
        }
        return true;
    }

    private async Task RunAsync(Run run)
    {
        var ct = run.Cts.Token;
        try
        {
            // Each pass: the five tries; a 2xx with no subscription after it starts another pass, at most as many
            // passes as tries, so a queen that accepts but never subscribes is not called forever.
            for (var pass = 1; ; pass++)
            {
                var outcome = await TriesAsync(run, ct);
                if (outcome != ReadyOutcomeKind.Accepted)
                {
                    Finish(run, outcome == ReadyOutcomeKind.Conflict ? ReadyState.Conflict : ReadyState.GaveUp);
                    return;
                }
                SetState(run, ReadyState.AwaitingSubscription);
                using var expected = new CancellationTokenSource(_protocol.SubscriptionExpectedWithin, _time);
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct, expected.Token);
                try
                {
                    await _subscriptions.WaitForOpenAsync(wait.Token);
                    Finish(run, ReadyState.Subscribed);
                    return;
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    if (pass >= _protocol.ReadySchedule.Length)
                    {
                        Log.NeverSubscribed(_logger, run.Queen.ToString(), pass);
                        Finish(run, ReadyState.GaveUp);
                        return;
                    }
                    if (pass == 1) Log.NoSubscription(_logger, run.Queen.ToString(), _protocol.SubscriptionExpectedWithin.TotalSeconds);
                    SetState(run, ReadyState.Trying);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Replaced by a run toward another queen, or the hive is stopping.
            Finish(run, null);
        }
        catch (Exception e)
        {
            Log.Crashed(_logger, e);
            Finish(run, ReadyState.GaveUp);
        }
    }

    private async Task<ReadyOutcomeKind> TriesAsync(Run run, CancellationToken ct)
    {
        var schedule = _protocol.ReadySchedule;
        var last = "";
        for (var i = 0; i < schedule.Length; i++)
        {
            if (schedule[i] > TimeSpan.Zero) await NapAsync(run, schedule[i], ct);
            var outcome = await TryOnceAsync(run.Queen, ct);
            switch (outcome.Kind)
            {
                case ReadyOutcomeKind.Accepted:
                    Log.Accepted(_logger, run.Queen.ToString(), i + 1);
                    Volatile.Write(ref _lastConflict, null);
                    return ReadyOutcomeKind.Accepted;
                case ReadyOutcomeKind.Conflict:
                    var conflict = $"{run.Queen} {outcome.Detail}";
                    var repeated = Interlocked.Exchange(ref _lastConflict, conflict) == conflict;
                    Log.Conflict(_logger, repeated ? LogLevel.Debug : LogLevel.Error, run.Queen.ToString(), outcome.Detail);
                    return ReadyOutcomeKind.Conflict;
            }
            last = outcome.Detail;
            // One line when the queen is first missed, one when the hive gives up; the tries between are Debug.
            if (i == 0 && schedule.Length > 1) Log.FirstTryFailed(_logger, run.Queen.ToString(), last, schedule.Length - 1);
            else Log.TryFailed(_logger, run.Queen.ToString(), i + 1, last);
        }
        Log.GaveUp(_logger, run.Queen.ToString(), schedule.Length, last);
        return ReadyOutcomeKind.Failed;
    }

    /// <summary>Sleeps before a try, unless the queen asks meanwhile (<see cref="Trigger"/>); throws when the run ends.</summary>
    private async Task NapAsync(Run run, TimeSpan delay, CancellationToken ct)
    {
        using var nap = CancellationTokenSource.CreateLinkedTokenSource(ct);
        lock (_gate)
        {
            if (run.WakeRequested)
            {
                run.WakeRequested = false;
                return;
            }
            run.Nap = nap;
        }
        try
        {
            await Task.Delay(delay, _time, nap.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // Woken: the queen asked, so it is up; try now.
        }
        finally
        {
            lock (_gate) run.Nap = null;
        }
    }

    private async Task<ReadyOutcome> TryOnceAsync(Uri queen, CancellationToken ct)
    {
        using var timeout = new CancellationTokenSource(_protocol.ReadyTryTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        try
        {
            return await _client.PostReadyAsync(queen, _ready(), linked.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return ReadyOutcome.Failed($"no answer within {_protocol.ReadyTryTimeout.TotalSeconds:0.###} s");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return ReadyOutcome.Failed(e.Message);
        }
    }

    private void SetState(Run run, ReadyState state)
    {
        lock (_gate)
            if (_current == run) _state = state;
    }

    private void Finish(Run run, ReadyState? state)
    {
        lock (_gate)
        {
            run.Finished = true;
            if (_current == run && state is { } s) _state = s;
        }
    }

    public void Dispose()
    {
        lock (_gate) _disposed.Cancel();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = HiveEventIds.ReadyStarted, Level = LogLevel.Information, Message = "Ready sequence toward {Queen} started ({Reason})")]
        public static partial void Started(ILogger logger, string queen, string reason);

        [LoggerMessage(EventId = HiveEventIds.ReadyAccepted, Level = LogLevel.Information, Message = "Queen {Queen} accepted ready on try {Try}")]
        public static partial void Accepted(ILogger logger, string queen, int @try);

        [LoggerMessage(EventId = HiveEventIds.ReadyFirstTryFailed, Level = LogLevel.Information, Message = "Queen {Queen} not reachable yet ({Reason}); {Left} more tries")]
        public static partial void FirstTryFailed(ILogger logger, string queen, string reason, int left);

        [LoggerMessage(EventId = HiveEventIds.ReadyTryFailed, Level = LogLevel.Debug, Message = "Ready try {Try} toward {Queen} failed: {Reason}")]
        public static partial void TryFailed(ILogger logger, string queen, int @try, string reason);

        [LoggerMessage(EventId = HiveEventIds.ReadyGaveUp, Level = LogLevel.Warning, Message = "Queen {Queen} did not accept ready after {Tries} tries (last: {Reason}); waiting for the queen to find this hive")]
        public static partial void GaveUp(ILogger logger, string queen, int tries, string reason);

        [LoggerMessage(EventId = HiveEventIds.ReadyConflict, Message = "Queen {Queen} refused ready with 409: {Reason}. Another hive with this hive id is registered from another URL; give this hive its own --hive-id")]
        public static partial void Conflict(ILogger logger, LogLevel level, string queen, string reason);

        [LoggerMessage(EventId = HiveEventIds.ReadyReplaced, Level = LogLevel.Information, Message = "Ready toward {Queen} replaced by a ready toward {NewQueen}")]
        public static partial void Replaced(ILogger logger, string queen, string newQueen);

        [LoggerMessage(EventId = HiveEventIds.ReadyNoSubscription, Level = LogLevel.Warning, Message = "Queen {Queen} accepted ready but did not subscribe within {Seconds} s; trying again")]
        public static partial void NoSubscription(ILogger logger, string queen, double seconds);

        [LoggerMessage(EventId = HiveEventIds.ReadyNeverSubscribed, Level = LogLevel.Warning, Message = "Queen {Queen} accepted ready {Passes} times but never subscribed; waiting for the queen to find this hive")]
        public static partial void NeverSubscribed(ILogger logger, string queen, int passes);

        [LoggerMessage(EventId = HiveEventIds.ReadyCrashed, Level = LogLevel.Error, Message = "Ready sequence failed")]
        public static partial void Crashed(ILogger logger, Exception exception);
    }
}
