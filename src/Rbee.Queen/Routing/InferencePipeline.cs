using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Queen.Models;
using Rbee.Queen.Scheduling;

namespace Rbee.Queen.Routing;

/// <summary>How handing a worker's response to the client went.</summary>
public enum DeliveryOutcome
{
    /// <summary>The whole response reached the client.</summary>
    Delivered,
    /// <summary>The worker failed before the client got any byte of its answer: safe to try another worker.</summary>
    FailedBeforeFirstByte,
    /// <summary>The worker failed mid-answer; the client got an error frame (or a cut connection), never a silent end.</summary>
    FailedAfterFirstByte,
    /// <summary>The client stopped reading: nothing to say about the worker.</summary>
    ClientGone,
}

public readonly record struct Delivery(DeliveryOutcome Outcome, string? Error = null)
{
    public static Delivery Ok => new(DeliveryOutcome.Delivered);
}

/// <summary>The party an inference answer goes to: an HTTP client through the proxy, or a queen job (<c>infer</c>).</summary>
public interface IInferenceClient
{
    /// <summary>The client asked for a stream (it can be shown progress as it waits).</summary>
    bool Streaming { get; }

    /// <summary>The client waited <see cref="SchedulingOptions.StreamHeadersAfter"/> for a worker.</summary>
    ValueTask WaitingLongAsync(CancellationToken ct);

    /// <summary>One line of progress while waiting (queue position, cold start).</summary>
    ValueTask ProgressAsync(string line, CancellationToken ct);

    /// <summary>Sends the request to the worker; returns at the worker's response headers.</summary>
    Task<HttpResponseMessage> SendAsync(WorkerLease lease, CancellationToken ct);

    /// <summary>Hands the worker's answer to the client as it arrives; reads from the worker with
    /// <see cref="WorkerDeadline.Token"/> and extends it after each read, writes to the client with its own token.</summary>
    ValueTask<Delivery> DeliverAsync(HttpResponseMessage upstream, WorkerLease lease, RequestTimeline timeline, WorkerDeadline deadline);

    /// <summary>The request cannot be served: answer the error (status, or an error frame once the stream has begun).</summary>
    ValueTask FailAsync(int status, ErrorResponse error, int? retryAfterSeconds, CancellationToken ct);
}

/// <summary>
/// The request path of the queen (DESIGN.md "Scheduling and routing"): take a worker from the scheduler (waiting in the
/// model's queue or for a cold start, with progress for a streamed request), send the request, and hand the answer over.
/// A worker that fails before any byte of its answer reached the client (connection refused or reset, a 5xx, its hive
/// gone) is released as a failure and the request is tried on another, at most <see cref="SchedulingOptions.MaxRetries"/>
/// times; a worker that says it is full (429/503) is not a failure and the request waits its turn again at the front.
/// After that the client gets 502 in OpenAI's shape, or an error frame when its stream has begun: never a silent end.
/// A worker that sends nothing for <see cref="SchedulingOptions.WorkerIdleTimeout"/> (wedged, stopped) counts as failed,
/// so no request waits on it forever. A model no hive has that is an alias (<c>Models:Aliases</c>) is pulled on demand
/// first when <c>Models:PullOnDemand</c> is on (<see cref="ModelPulls"/>), the request waiting with progress as for a
/// cold start; its <see cref="SchedulingOptions.MaxWait"/> starts after the pull. Each attempt is listed in
/// <paramref name="inFlight"/>, so one whose worker became unreachable behind an offline hive is ended early
/// (<see cref="UnreachableWorkerSweep"/>) and handled like any other worker failure.
/// </summary>
public sealed class InferencePipeline(Scheduler scheduler, SchedulingOptions options, TimeProvider time, ModelPulls? pulls = null,
    InFlightRequests? inFlight = null)
{
    /// <param name="caller">Who sent the request (its API key, a local caller, a job's token holder): a cold start or a
    /// pull on demand it causes is audited as theirs.</param>
    public async Task RunAsync(string model, IInferenceClient client, RequestTimeline timeline, Audit.Actor caller, CancellationToken ct)
    {
        timeline.Model = model;
        var started = time.GetTimestamp();
        var failures = 0;
        var retry = false;
        var pulled = false;
        string? lastFailure = null;
        HashSet<WorkerKey>? failedOn = null;
        try
        {
            while (true)
            {
                var waited = time.GetElapsedTime(started);
                WorkerLease lease;
                try
                {
                    lease = await AcquireAsync(model, client, timeline, retry, options.MaxWait - waited, failedOn, caller, ct).ConfigureAwait(false);
                }
                catch (SchedulingException e)
                {
                    var failure = e;
                    if (e.Code == SchedulingException.ModelNotFoundCode && !pulled && pulls?.SourceOf(model) is not null)
                    {
                        pulled = true;
                        try
                        {
                            await PullAsync(pulls, model, client, timeline, caller, ct).ConfigureAwait(false);
                            // The pull had its own bound (Models:PullTimeout); the wait for a worker starts now.
                            started = time.GetTimestamp();
                            continue;
                        }
                        catch (SchedulingException pullFailure)
                        {
                            failure = pullFailure;
                        }
                    }
                    timeline.Failed(failure.Status, failure.Message);
                    await client.FailAsync(failure.Status, ErrorResponse.Of(failure.Message, failure.Type, failure.Code, failure.Param),
                        failure.RetryAfterSeconds, ct).ConfigureAwait(false);
                    return;
                }
                timeline.Placed(lease.HiveId, lease.Url);

                var (outcome, reason) = await AttemptAsync(client, lease, timeline, ct).ConfigureAwait(false);
                switch (outcome)
                {
                    case AttemptOutcome.Done:
                        return;
                    case AttemptOutcome.Busy:
                        // The worker's own slots are full: wait for a worker again, at the head of the queue.
                        timeline.Retried($"worker busy: {reason}");
                        retry = true;
                        continue;
                    case AttemptOutcome.Retryable:
                        lastFailure = reason;
                        (failedOn ??= []).Add(lease.Key);
                        if (++failures > options.MaxRetries)
                        {
                            var message = $"the request failed on {failures} worker attempt(s); the last: {reason}";
                            timeline.Failed(StatusCodes.Status502BadGateway, message);
                            await client.FailAsync(StatusCodes.Status502BadGateway,
                                ErrorResponse.Of(message, ErrorTypes.Server, "worker_failed"), null, ct).ConfigureAwait(false);
                            return;
                        }
                        timeline.Retried(reason!);
                        retry = true;
                        continue;
                    case AttemptOutcome.FailedMidStream:
                        timeline.Failed(StatusCodes.Status502BadGateway, $"worker failed mid-answer: {reason}");
                        return;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // 499: nginx's word for "the client closed the request"; nobody is left to answer.
            timeline.Failed(499, lastFailure is null ? "client disconnected" : $"client disconnected after: {lastFailure}");
        }
    }

    private enum AttemptOutcome { Done, Busy, Retryable, FailedMidStream }

    private async Task<(AttemptOutcome, string?)> AttemptAsync(IInferenceClient client, WorkerLease lease, RequestTimeline timeline,
        CancellationToken ct)
    {
        using var deadline = new WorkerDeadline(options.WorkerIdleTimeout, ct);
        using var tracked = inFlight?.Track(lease.Key, lease.Url, deadline);
        try
        {
            HttpResponseMessage response;
            try
            {
                response = await client.SendAsync(lease, deadline.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                // Refused, reset, no answer within the idle timeout, or anything else: the worker did not take the request.
                var why = deadline.AbandonedBecause is { } abandoned ? $"{lease.Url}: {abandoned}"
                    : deadline.Expired ? $"{lease.Url}: no response within {deadline.Idle.TotalSeconds:0.#} s" : $"{lease.Url}: {e.Message}";
                lease.Release(RequestOutcome.Failure, why);
                return (AttemptOutcome.Retryable, why);
            }

            using (response)
            using (response.RequestMessage)
            {
                var status = (int)response.StatusCode;
                if (status is StatusCodes.Status429TooManyRequests or StatusCodes.Status503ServiceUnavailable)
                {
                    lease.Release(RequestOutcome.Busy);
                    return (AttemptOutcome.Busy, $"{lease.Url} answered {status}");
                }
                if (status >= 500)
                {
                    string text;
                    try { text = await ErrorTextAsync(response, deadline.Token).ConfigureAwait(false); }
                    catch (OperationCanceledException) when (deadline.Expired) { text = deadline.AbandonedBecause ?? "(no body within the idle timeout)"; }
                    var why = $"{lease.Url} answered {status}: {text}";
                    lease.Release(RequestOutcome.Failure, why);
                    return (AttemptOutcome.Retryable, why);
                }

                var delivery = await client.DeliverAsync(response, lease, timeline, deadline).ConfigureAwait(false);
                switch (delivery.Outcome)
                {
                    case DeliveryOutcome.ClientGone:
                        lease.Release(RequestOutcome.Cancelled);
                        timeline.Failed(499, "client disconnected");
                        return (AttemptOutcome.Done, null);
                    case DeliveryOutcome.Delivered:
                        lease.Release(RequestOutcome.Success);
                        timeline.Done(status);
                        return (AttemptOutcome.Done, null);
                    case DeliveryOutcome.FailedBeforeFirstByte:
                        lease.Release(RequestOutcome.Failure, delivery.Error);
                        return (AttemptOutcome.Retryable, $"{lease.Url}: {delivery.Error}");
                    default:
                        lease.Release(RequestOutcome.Failure, delivery.Error);
                        return (AttemptOutcome.FailedMidStream, delivery.Error);
                }
            }
        }
        catch (Exception e)
        {
            // Whatever threw (the client left while an error body was read, a bug), the worker's place is given back;
            // a lease released above ignores this second release. Only the client's departure says nothing about the worker.
            lease.Release(ct.IsCancellationRequested ? RequestOutcome.Cancelled : RequestOutcome.Failure, e.Message);
            throw;
        }
    }

    /// <summary>The worker's error message from an OpenAI-shaped body (at most 64 KiB read), for logs and the client.</summary>
    public static async Task<string> ErrorTextAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            var text = await ReadBoundedAsync(response, 64 * 1024, ct).ConfigureAwait(false);
            return Rbee.Queen.Jobs.HiveJobClient.ErrorMessage(text) is { Length: > 0 } m ? m : "(empty body)";
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return $"(body unreadable: {e.Message})";
        }
    }

    public static async Task<string> ReadBoundedAsync(HttpResponseMessage response, int max, CancellationToken ct)
    {
        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(max);
        try
        {
            var length = 0;
            int n;
            while (length < max && (n = await body.ReadAsync(buffer.AsMemory(length, max - length), ct).ConfigureAwait(false)) > 0) length += n;
            return System.Text.Encoding.UTF8.GetString(buffer, 0, length);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Takes a worker for the request, telling a streamed client what happens while it waits (<see cref="ShowWaitAsync{T}"/>).
    /// </summary>
    private async Task<WorkerLease> AcquireAsync(string model, IInferenceClient client, RequestTimeline timeline, bool retry,
        TimeSpan maxWait, IReadOnlySet<WorkerKey>? avoid, Audit.Actor caller, CancellationToken ct)
    {
        var notes = new WaitNotes();
        var take = scheduler.AcquireAsync(model, notes, retry, maxWait, ct, avoid, caller);
        if (take.IsCompletedSuccessfully) return take.Result;

        // Writing progress may fail (the client left): a worker handed over after that must still go back.
        var lease = await ShowWaitAsync(take, notes, "waiting for a worker", client, timeline,
            static l => l.Release(RequestOutcome.Cancelled), ct).ConfigureAwait(false);
        try
        {
            await DrainAsync(notes, client, timeline, ct).ConfigureAwait(false);
            if (notes.SawSpawn)
            {
                // This request waited for a cold start, and the worker it got is ready: the started one, or one that became
                // free first. Either way the wait for a worker ends here.
                timeline.WorkerReady(lease.HiveId, lease.Url);
                await client.ProgressAsync($"worker ready on {lease.HiveId} at {lease.Url}", ct).ConfigureAwait(false);
            }
            await client.ProgressAsync($"placed on hive {lease.HiveId} worker {lease.Url}", ct).ConfigureAwait(false);
        }
        catch
        {
            lease.Release(RequestOutcome.Cancelled);
            throw;
        }
        return lease;
    }

    /// <summary>Pulls the alias <paramref name="model"/> onto a hive, or joins its pull, showing its progress as it goes.</summary>
    private async Task PullAsync(ModelPulls modelPulls, string model, IInferenceClient client, RequestTimeline timeline, Audit.Actor caller,
        CancellationToken ct)
    {
        var notes = new WaitNotes();
        var pull = modelPulls.PullAsync(model, notes, ct, caller);
        if (pull.IsCompleted)
        {
            await pull.ConfigureAwait(false); // refused at once (pulls off, no hive): nothing to show
            return;
        }
        await ShowWaitAsync(Completed(pull), notes, $"pulling {model}", client, timeline, null, ct).ConfigureAwait(false);
        await DrainAsync(notes, client, timeline, ct).ConfigureAwait(false);

        static async Task<bool> Completed(Task t)
        {
            await t.ConfigureAwait(false);
            return true;
        }
    }

    /// <summary>
    /// Waits for <paramref name="work"/>, telling a streamed client what happens meanwhile: after
    /// <see cref="SchedulingOptions.StreamHeadersAfter"/> its response begins (200, SSE) and every note (queue position,
    /// cold start, pull progress) becomes a comment, with a comment at least every <see cref="SchedulingOptions.WaitCommentInterval"/>.
    /// When writing to the client fails, <paramref name="abandon"/> gets what <paramref name="work"/> produces after all.
    /// </summary>
    private async Task<T> ShowWaitAsync<T>(Task<T> work, WaitNotes notes, string firstLine, IInferenceClient client, RequestTimeline timeline,
        Action<T>? abandon, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var beginStream = client.Streaming ? Task.Delay(options.StreamHeadersAfter, time, stop.Token) : null;
        var lastLine = firstLine;
        try
        {
            Task<bool>? note = null;
            Task? tick = null;
            while (!work.IsCompleted)
            {
                // One pending wait of each kind at a time: a channel with a single reader allows one waiter.
                note ??= notes.Reader.WaitToReadAsync(stop.Token).AsTask();
                tick ??= Task.Delay(options.WaitCommentInterval, time, stop.Token);
                var first = await Task.WhenAny(work, note, beginStream ?? work, tick).ConfigureAwait(false);
                if (first == note) note = null;
                if (first == beginStream)
                {
                    beginStream = null;
                    await client.WaitingLongAsync(ct).ConfigureAwait(false);
                    await client.ProgressAsync(lastLine, ct).ConfigureAwait(false);
                }
                else if (first == tick)
                {
                    tick = null;
                    await client.ProgressAsync(lastLine, ct).ConfigureAwait(false);
                }
                lastLine = await DrainAsync(notes, client, timeline, ct).ConfigureAwait(false) ?? lastLine;
            }
        }
        catch when (abandon is not null)
        {
            _ = work.ContinueWith(t => abandon(t.Result), CancellationToken.None,
                TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw;
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
        }
        return await work.ConfigureAwait(false);
    }

    /// <summary>Turns the notes so far into timeline phases and progress lines; returns the last line, if any.</summary>
    private static async ValueTask<string?> DrainAsync(WaitNotes notes, IInferenceClient client, RequestTimeline timeline, CancellationToken ct)
    {
        string? last = null;
        while (notes.Reader.TryRead(out var n))
        {
            switch (n.Kind)
            {
                case WaitNoteKind.Queued: timeline.Queued(n.Position); break;
                case WaitNoteKind.SpawnStarted: timeline.SpawnStarted(n.HiveId!, n.Text!); break;
                case WaitNoteKind.WorkerSpawned:
                    // A phase only: the hive's own narration (SpawnProgress) already tells the client the process is up.
                    timeline.WorkerSpawned(n.HiveId!);
                    continue;
            }
            last = n.Kind switch
            {
                WaitNoteKind.Queued => $"queued position={n.Position}",
                WaitNoteKind.SpawnStarted => $"loading model on {n.HiveId} ({n.Text})",
                WaitNoteKind.PullProgress => n.Text!,
                _ => $"[{n.HiveId}] {n.Text}",
            };
            await client.ProgressAsync(last, ct).ConfigureAwait(false);
        }
        return last;
    }

    private enum WaitNoteKind { Queued, SpawnStarted, WorkerSpawned, SpawnProgress, PullProgress }

    private readonly record struct WaitNote(WaitNoteKind Kind, int Position = 0, string? HiveId = null, string? Text = null);

    /// <summary>The scheduler's and the pull's callbacks, queued for the request's own task (they arrive on other threads, under locks).</summary>
    private sealed class WaitNotes : IWaitObserver, IPullObserver
    {
        private readonly Channel<WaitNote> _channel = Channel.CreateUnbounded<WaitNote>(new UnboundedChannelOptions { SingleReader = true });

        public ChannelReader<WaitNote> Reader => _channel.Reader;

        /// <summary>A cold start was announced to this request.</summary>
        public bool SawSpawn { get; private set; }

        public void Queued(int position) => _channel.Writer.TryWrite(new WaitNote(WaitNoteKind.Queued, position));

        public void SpawnStarted(string hiveId, string device)
        {
            SawSpawn = true;
            _channel.Writer.TryWrite(new WaitNote(WaitNoteKind.SpawnStarted, 0, hiveId, device));
        }

        public void WorkerSpawned(string hiveId, int port) => _channel.Writer.TryWrite(new WaitNote(WaitNoteKind.WorkerSpawned, port, hiveId));

        public void SpawnProgress(string hiveId, string text) => _channel.Writer.TryWrite(new WaitNote(WaitNoteKind.SpawnProgress, 0, hiveId, text));

        public void PullProgress(string line) => _channel.Writer.TryWrite(new WaitNote(WaitNoteKind.PullProgress, 0, null, line));
    }
}

/// <summary>
/// How long a worker may send nothing during one attempt (<see cref="SchedulingOptions.WorkerIdleTimeout"/>): reads from
/// the worker use <see cref="Token"/>, which the client's departure cancels too; each read that returns extends it.
/// <see cref="Abandon"/> ends it at once, for a worker found unreachable (<see cref="UnreachableWorkerSweep"/>).
/// </summary>
public sealed class WorkerDeadline : IDisposable
{
    private readonly CancellationTokenSource _cts;

    public WorkerDeadline(TimeSpan idle, CancellationToken client)
    {
        Idle = idle;
        ClientToken = client;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(client);
        _cts.CancelAfter(idle);
    }

    public TimeSpan Idle { get; }

    /// <summary>The client's own token: writes to the client use it.</summary>
    public CancellationToken ClientToken { get; }

    public CancellationToken Token => _cts.Token;

    /// <summary>The worker was silent too long (the client is still there).</summary>
    public bool Expired => _cts.IsCancellationRequested && !ClientToken.IsCancellationRequested;

    /// <summary>The worker sent something: it has <see cref="Idle"/> again (re-arms the timer; allocates nothing).</summary>
    public void Extend() => _cts.CancelAfter(Idle);

    private string? _abandoned;

    /// <summary>Why the attempt was ended before its idle timeout (<see cref="Abandon"/>); null when it was not.</summary>
    public string? AbandonedBecause => Volatile.Read(ref _abandoned);

    /// <summary>Ends the attempt now, as if the worker had been silent too long, with <paramref name="reason"/> as the
    /// failure the client and the logs see. Harmless on an attempt that already ended.</summary>
    public void Abandon(string reason)
    {
        if (Interlocked.CompareExchange(ref _abandoned, reason, null) is not null) return;
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The attempt ended between the sweep's look and this call.
        }
    }

    public void Dispose() => _cts.Dispose();
}
