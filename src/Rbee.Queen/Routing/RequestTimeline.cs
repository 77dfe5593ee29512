using Microsoft.Extensions.Logging;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Queen.Telemetry;

namespace Rbee.Queen.Routing;

/// <summary>
/// One inference request's timeline (DESIGN.md "Scheduling and routing"): each phase (received, queued with position,
/// spawn started, worker spawned (process up, loading), worker ready, placed, retried, first byte, done or failed) is published at once as
/// <c>event: request</c> on the queen's aggregate stream, with its time since <c>received</c> and since the previous
/// phase, and the request ends with one structured log line. Written by the request's own task only.
/// </summary>
public sealed partial class RequestTimeline(ClusterEventHub events, TimeProvider time, ILogger logger, string requestId, string endpoint,
    Telemetry.QueenMetrics? metrics = null)
{
    private bool _received;
    private readonly long _start = time.GetTimestamp();
    private long _last;
    private double? _queuedMs;
    private double? _firstByteMs;
    private int _attempts;
    private bool _ended;

    public string RequestId { get; } = requestId;
    public string? Model { get; set; }
    public bool Stream { get; set; }
    public string? HiveId { get; private set; }
    public string? WorkerUrl { get; private set; }

    public void Received()
    {
        if (!_received) metrics?.Received();
        _received = true;
        Publish(RequestPhases.Received);
    }

    public void Queued(int position)
    {
        _queuedMs ??= ElapsedMs();
        Publish(RequestPhases.Queued, position: position);
    }

    public void SpawnStarted(string hiveId, string device) => Publish(RequestPhases.SpawnStarted, hiveId: hiveId, device: device);

    public void WorkerSpawned(string hiveId) => Publish(RequestPhases.WorkerSpawned, hiveId: hiveId);

    public void WorkerReady(string hiveId, string workerUrl) => Publish(RequestPhases.WorkerReady, hiveId: hiveId, workerUrl: workerUrl);

    public void Placed(string hiveId, string workerUrl)
    {
        HiveId = hiveId;
        WorkerUrl = workerUrl;
        _attempts++;
        Publish(RequestPhases.Placed, hiveId: hiveId, workerUrl: workerUrl, attempt: _attempts);
    }

    public void Retried(string reason)
    {
        metrics?.Retried();
        Publish(RequestPhases.Retried, hiveId: HiveId, workerUrl: WorkerUrl, error: reason, attempt: _attempts);
    }

    public void FirstByte()
    {
        if (_firstByteMs is null) metrics?.FirstByte(time.GetElapsedTime(_start));
        _firstByteMs ??= ElapsedMs();
        Publish(RequestPhases.FirstByte, hiveId: HiveId, workerUrl: WorkerUrl);
    }

    public void Done(int status)
    {
        if (_ended) return;
        _ended = true;
        if (_received) metrics?.Ended(endpoint, status, time.GetElapsedTime(_start));
        Publish(RequestPhases.Done, hiveId: HiveId, workerUrl: WorkerUrl, status: status);
        Log.Completed(logger, RequestId, Model ?? "-", endpoint, status, HiveId ?? "-", WorkerUrl ?? "-", _attempts,
            _queuedMs ?? 0, _firstByteMs ?? -1, ElapsedMs());
    }

    public void Failed(int status, string error)
    {
        if (_ended) return;
        _ended = true;
        if (_received) metrics?.Ended(endpoint, status, time.GetElapsedTime(_start));
        Publish(RequestPhases.Failed, hiveId: HiveId, workerUrl: WorkerUrl, status: status, error: error);
        // A client's mistake (4xx) or departure (499) is not the operator's problem: Information, so a caller cannot
        // fill the log with warnings; failures of the cluster (5xx) are warnings.
        Log.Failed(logger, status >= 500 ? LogLevel.Warning : LogLevel.Information, RequestId, Model ?? "-", endpoint, status,
            HiveId ?? "-", WorkerUrl ?? "-", _attempts, ElapsedMs(), error);
    }

    /// <summary>Refused before routing (bad body, no such endpoint): received and failed in one go.</summary>
    public void Rejected(int status, string error)
    {
        Received();
        Failed(status, error);
    }

    private double ElapsedMs() => time.GetElapsedTime(_start).TotalMilliseconds;

    private void Publish(string phase, int? position = null, string? hiveId = null, string? workerUrl = null, int? status = null,
        string? error = null, int? attempt = null, string? device = null)
    {
        var now = time.GetTimestamp();
        var since = _last == 0 ? (double?)null : time.GetElapsedTime(_last, now).TotalMilliseconds;
        _last = now;
        if (!events.HasSubscribers) return;
        var e = new RequestEvent(RequestId, Model, phase, time.GetUtcNow(), time.GetElapsedTime(_start, now).TotalMilliseconds)
        {
            DurationMs = since,
            Endpoint = phase == RequestPhases.Received ? endpoint : null,
            Stream = phase == RequestPhases.Received ? Stream : null,
            Position = position,
            HiveId = hiveId,
            WorkerUrl = workerUrl,
            Status = status,
            Device = device,
            Error = error,
            Attempt = attempt,
        };
        events.Publish(StreamEvents.Request, e, RbeeJsonContext.Default.RequestEvent);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = QueenEventIds.RequestCompleted, Level = LogLevel.Information,
            Message = "request {RequestId} model {Model} {Endpoint} status {Status} hive {HiveId} worker {WorkerUrl} attempts {Attempts} queued_ms {QueuedMs:0.#} ttfb_ms {FirstByteMs:0.#} total_ms {TotalMs:0.#}")]
        public static partial void Completed(ILogger logger, string requestId, string model, string endpoint, int status, string hiveId,
            string workerUrl, int attempts, double queuedMs, double firstByteMs, double totalMs);

        [LoggerMessage(EventId = QueenEventIds.RequestFailed,
            Message = "request {RequestId} model {Model} {Endpoint} failed with status {Status} hive {HiveId} worker {WorkerUrl} attempts {Attempts} total_ms {TotalMs:0.#}: {Error}")]
        public static partial void Failed(ILogger logger, LogLevel level, string requestId, string model, string endpoint, int status, string hiveId,
            string workerUrl, int attempts, double totalMs, string error);
    }
}
