using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Platform.Http;
using Rbee.Platform.Sse;
using Rbee.Queen.Cluster;
using Rbee.Queen.Configuration;
using Rbee.Queen.Discovery;

namespace Rbee.Queen.Telemetry;

/// <summary>
/// One SSE subscription per hive, keyed by hive_id (DESIGN.md "Discovery and telemetry" 3-5). Whether to open,
/// replace or keep a subscription is decided by the registry's verdict on the ready (instance_id), never by
/// timing; frames are applied only when their instance and seq say so.
/// </summary>
public sealed partial class HiveSubscriptions : IDisposable
{
    private readonly ConcurrentDictionary<string, HiveSubscription> _subscriptions = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly ClusterRegistry _registry;
    private readonly ClusterHttp _http;
    private readonly QueenOptions _options;
    private readonly ILogger<HiveSubscriptions> _logger;
    private readonly CancellationTokenSource _stopping = new();

    public HiveSubscriptions(ClusterRegistry registry, ClusterHttp http, IOptions<QueenOptions> options,
        ILogger<HiveSubscriptions> logger)
    {
        _registry = registry;
        _http = http;
        _options = options.Value;
        _logger = logger;
        _registry.WentSilent += (hiveId, instanceId) =>
        {
            if (_subscriptions.TryGetValue(hiveId, out var s)) s.DropConnection(instanceId);
        };
    }

    /// <summary>
    /// Applies a ready to the registry and acts on its verdict as one step, so two readies racing for one hive_id
    /// are ordered here and never leave two subscription loops behind.
    /// </summary>
    public ReadyOutcome Accept(HiveReady ready, Uri hiveUrl)
    {
        lock (_gate)
        {
            var outcome = _registry.Ready(ready, hiveUrl);
            OnReady(ready.HiveId, outcome);
            return outcome;
        }
    }

    /// <summary>Acts on the registry's verdict for a ready of <paramref name="hiveId"/>.</summary>
    private void OnReady(string hiveId, ReadyOutcome outcome)
    {
        lock (_gate)
        {
            switch (outcome)
            {
                case ReadyOutcome.Registered:
                case ReadyOutcome.Restarted:
                    // A new instance (or a hive that moved while offline): the old loop's stream belongs to
                    // the old generation, so it goes and a fresh one follows the new entry.
                    if (_subscriptions.TryRemove(hiveId, out var old)) old.Stop();
                    Start(hiveId);
                    break;
                case ReadyOutcome.AlreadyKnown:
                    // Never a second subscription to the same instance; the hive asked again because it saw
                    // none (DESIGN.md 5), so the loop we have retries now instead of after its backoff.
                    if (_subscriptions.TryGetValue(hiveId, out var existing) && existing.IsRunning) existing.Wake();
                    else Start(hiveId);
                    break;
                case ReadyOutcome.Incompatible:
                    if (_subscriptions.TryRemove(hiveId, out var gone)) gone.Stop();
                    break;
                case ReadyOutcome.Conflict:
                    break;
            }
        }
    }

    private void Start(string hiveId)
    {
        var s = new HiveSubscription(this, hiveId);
        _subscriptions[hiveId] = s;
        s.Run(_stopping.Token);
    }

    public void Dispose()
    {
        _stopping.Cancel();
        foreach (var s in _subscriptions.Values) s.Stop();
        _stopping.Dispose();
    }

    private sealed class HiveSubscription(HiveSubscriptions owner, string hiveId)
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly SemaphoreSlim _wake = new(0, 1);
        // One per subscription, and a subscription follows one instance (a new instance gets a new subscription).
        private readonly CatalogRefresh _catalog = new();
        private CancellationTokenSource? _attempt;
        private string? _attemptInstance;

        public void Stop()
        {
            try { _stop.Cancel(); } catch (ObjectDisposedException) { }
        }

        public void Wake()
        {
            try { _wake.Release(); } catch (SemaphoreFullException) { } catch (ObjectDisposedException) { }
        }

        /// <summary>Liveness took the hive offline although the socket may be open (frames stopped, or never came):
        /// drop it and resubscribe.</summary>
        public void DropConnection(string instanceId)
        {
            var attempt = Volatile.Read(ref _attempt);
            if (attempt is not null && _attemptInstance == instanceId)
                try { attempt.Cancel(); } catch (ObjectDisposedException) { }
        }

        private volatile bool _running = true;

        /// <summary>False once the loop has ended (its hive became incompatible, or it was stopped).</summary>
        public bool IsRunning => _running;

        public void Run(CancellationToken stopping) => _ = Task.Run(async () =>
        {
            try { await LoopAsync(stopping); }
            finally { _running = false; }
        });

        private async Task LoopAsync(CancellationToken stopping)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, _stop.Token);
            var ct = linked.Token;
            var backoff = new Backoff(owner._options.ResubscribeBackoffInitial, owner._options.ResubscribeBackoffMax);
            var failures = 0;
            while (!ct.IsCancellationRequested)
            {
                var entry = owner._registry.Current.Find(hiveId);
                if (entry is null || entry.State == HiveState.Incompatible) break;
                var gotFrame = await AttemptAsync(entry, ct);
                if (ct.IsCancellationRequested) break;
                if (gotFrame) failures = 0;
                var delay = backoff.Delay(failures++);
                try
                {
                    await _wake.WaitAsync(delay, ct);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        private async Task FetchCapabilitiesAsync(HiveEntry entry, CancellationToken ct)
        {
            try
            {
                using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
                bound.CancelAfter(owner._options.SubscribeTimeout);
                using var request = owner._http.Request(HttpMethod.Get, new Uri(entry.HiveUrl, "/capabilities"));
                using var response = await owner._http.Client.SendAsync(request, bound.Token);
                response.EnsureSuccessStatusCode();
                var caps = await response.Content.ReadFromJsonAsync(RbeeJsonContext.Default.Capabilities, bound.Token);
                if (caps is not null) owner._registry.SetCapabilities(hiveId, caps);
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException or JsonException or IOException or ObjectDisposedException)
            {
                // Devices stay unknown until the next subscription; liveness does not depend on them.
            }
        }

        /// <summary>Fetches the catalog in the background (the caller has begun it on <see cref="_catalog"/>).</summary>
        private async Task FetchCatalogAsync(HiveEntry entry, CancellationToken ct)
        {
            var outcome = CatalogFetchOutcome.Failed;
            try
            {
                using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
                bound.CancelAfter(owner._options.SubscribeTimeout);
                var (result, catalog, error) = await HiveCatalogClient.FetchAsync(owner._http, entry.HiveUrl, bound.Token);
                outcome = result;
                switch (result)
                {
                    case CatalogFetchOutcome.Fetched:
                        // Dropped by the registry when it is another instance's (the hive restarted meanwhile) or not newer.
                        if (owner._registry.SetCatalog(hiveId, catalog!))
                            Log.CatalogFetched(owner._logger, hiveId, catalog!.Version, catalog.Models.Count);
                        break;
                    case CatalogFetchOutcome.NotFound:
                        Log.CatalogMissing(owner._logger, hiveId, entry.HiveUrl.ToString());
                        break;
                    default:
                        Log.CatalogFetchFailed(owner._logger, hiveId, error ?? "unknown");
                        break;
                }
            }
            finally
            {
                _catalog.Completed(outcome);
            }
        }

        /// <summary>One subscription attempt; true when at least one frame was applied.</summary>
        private async Task<bool> AttemptAsync(HiveEntry entry, CancellationToken ct)
        {
            var gotFrame = false;
            var opened = false;
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(ct);
            _attemptInstance = entry.InstanceId;
            Volatile.Write(ref _attempt, attempt);
            string reason = "stream closed";
            try
            {
                // Devices and models come from their own endpoints, fetched beside the stream so the first frame waits for neither.
                _ = FetchCapabilitiesAsync(entry, attempt.Token);
                if (_catalog.TryBeginOnSubscribe(entry.CatalogVersion)) _ = FetchCatalogAsync(entry, attempt.Token);

                using var request = owner._http.Request(HttpMethod.Get, new Uri(entry.HiveUrl, "/v1/heartbeats/stream"));
                request.Headers.Accept.ParseAdd("text/event-stream");
                HttpResponseMessage response;
                // The subscribe time-out bounds the connect and the response headers only. Whether an open stream is alive
                // is liveness's call alone (HiveLiveness, on the monitor's tick), which drops it through WentSilent.
                using (var connect = CancellationTokenSource.CreateLinkedTokenSource(attempt.Token))
                {
                    connect.CancelAfter(owner._options.SubscribeTimeout);
                    response = await owner._http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, connect.Token);
                }
                using (response)
                {
                    response.EnsureSuccessStatusCode();
                    opened = true;
                    owner._registry.StreamOpened(hiveId, entry.InstanceId);
                    Log.SubscriptionOpened(owner._logger, hiveId, entry.HiveUrl.ToString());
                    await using var body = await response.Content.ReadAsStreamAsync(attempt.Token);
                    using var reader = new SseEventReader(body);
                    while (await reader.NextAsync(attempt.Token) is { } e)
                    {
                        if (e.Event != StreamEvents.Telemetry) continue;
                        // The frame's bytes as they came (the reader decoded them; encoding gives back the same bytes): parsed
                        // once here and forwarded as they are by the aggregate stream.
                        var json = Encoding.UTF8.GetBytes(e.Data);
                        TelemetryFrame? frame;
                        try
                        {
                            frame = JsonSerializer.Deserialize(json, RbeeJsonContext.Default.TelemetryFrame);
                        }
                        catch (JsonException)
                        {
                            continue;
                        }
                        if (frame is null || frame.HiveId != hiveId) continue;
                        if (frame.InstanceId != entry.InstanceId)
                        {
                            // Another generation answers at this URL (the hive restarted): never hold a stream to an
                            // instance we have no ready for; its own ready will replace the entry (DESIGN.md 4).
                            reason = $"hive at {entry.HiveUrl} is now instance {frame.InstanceId}";
                            break;
                        }
                        if (!owner._registry.ApplyFrame(frame, json)) continue;
                        gotFrame = true;
                        if (_catalog.TryBeginOnFrame(frame.ModelsVersion, owner._registry.Current.Find(hiveId)?.CatalogVersion))
                            _ = FetchCatalogAsync(entry, attempt.Token);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return gotFrame;
            }
            catch (OperationCanceledException)
            {
                reason = opened ? "dropped: no frame in time" : "subscription timed out";
            }
            catch (Exception e) when (e is HttpRequestException or IOException or JsonException or InvalidOperationException)
            {
                reason = e is HttpRequestException { StatusCode: { } code } ? $"hive answered {(int)code}" : e.Message;
            }
            finally
            {
                Volatile.Write(ref _attempt, null);
            }
            owner._registry.StreamClosed(hiveId, entry.InstanceId, reason);
            if (!gotFrame) Log.SubscriptionFailed(owner._logger, hiveId, entry.HiveUrl.ToString(), reason);
            return gotFrame;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = QueenEventIds.SubscriptionOpened, Level = LogLevel.Debug, Message = "subscribed to hive {HiveId} at {HiveUrl}")]
        public static partial void SubscriptionOpened(ILogger logger, string hiveId, string hiveUrl);

        [LoggerMessage(EventId = QueenEventIds.SubscriptionFailed, Level = LogLevel.Debug, Message = "subscription to hive {HiveId} at {HiveUrl} failed: {Reason}")]
        public static partial void SubscriptionFailed(ILogger logger, string hiveId, string hiveUrl, string reason);

        [LoggerMessage(EventId = QueenEventIds.CatalogFetched, Level = LogLevel.Debug, Message = "model catalog of hive {HiveId}: version {Version}, {Count} model(s)")]
        public static partial void CatalogFetched(ILogger logger, string hiveId, long version, int count);

        [LoggerMessage(EventId = QueenEventIds.CatalogFetchFailed, Level = LogLevel.Debug, Message = "model catalog of hive {HiveId} not fetched: {Reason}")]
        public static partial void CatalogFetchFailed(ILogger logger, string hiveId, string reason);

        [LoggerMessage(EventId = QueenEventIds.CatalogMissing, Level = LogLevel.Information, Message = "hive {HiveId} at {HiveUrl} has no model catalog (an older hive); not asked again until it announces one")]
        public static partial void CatalogMissing(ILogger logger, string hiveId, string hiveUrl);
    }
}
