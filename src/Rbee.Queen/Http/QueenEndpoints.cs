using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rbee.Contracts.Json;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Errors;
using Rbee.Hosting.Security;
using Rbee.Hosting.Sse;
using Rbee.Platform.Http;
using Rbee.Queen.Cluster;
using Rbee.Queen.Configuration;
using Rbee.Queen.Telemetry;

namespace Rbee.Queen.Http;

/// <summary>The queen's discovery and telemetry surface (DESIGN.md "Discovery and telemetry", "Security").</summary>
public static partial class QueenEndpoints
{
    private static readonly DateTimeOffset StartedAt = DateTimeOffset.UtcNow;

    public static IEndpointRouteBuilder MapQueenEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/health", () => Results.Json(new Dictionary<string, string> { ["status"] = "ok", ["version"] = ProtocolConstants.Version },
            RbeeJsonContext.Default.DictionaryStringString));

        app.MapGet("/v1/info", (IOptions<QueenOptions> o, ClusterTokenOptions token) => Results.Json(
            new QueenInfo(ProtocolConstants.Version, ProtocolConstants.ProtocolVersion, o.Value.AdvertiseUrl, StartedAt, token.TokenRequired),
            RbeeJsonContext.Default.QueenInfo));

        var guarded = app.MapGroup("").RequireClusterToken();
        guarded.MapPost("/v1/hive/ready", ReadyAsync);
        guarded.MapGet("/v1/cluster", (ClusterRegistry registry, IWorkerLoadView load, TimeProvider time) =>
            Results.Json(ClusterViews.View(registry.Current, time.GetUtcNow(), load), RbeeJsonContext.Default.ClusterView));
        guarded.MapGet("/v1/hives/{hiveId}", (string hiveId, ClusterRegistry registry, IWorkerLoadView load, TimeProvider time) =>
            registry.Current.Find(hiveId) is { } entry
                ? Results.Json(ClusterViews.Hive(entry, time.GetUtcNow(), load), RbeeJsonContext.Default.HiveView)
                : ApiErrors.NotFound("unknown_hive", $"no hive '{hiveId}' is known to the queen", "hive_id"));
        guarded.MapGet("/v1/heartbeats/stream", StreamAsync);
        guarded.MapPost("/v1/shutdown", ShutdownAsync);
        return app;
    }

    private static async Task<IResult> ReadyAsync(HttpContext context, HiveSubscriptions subscriptions, ClusterRegistry registry,
        ClusterHttp http, ClusterOptions cluster, ILoggerFactory loggers)
    {
        HiveReady? ready;
        try
        {
            ready = await JsonSerializer.DeserializeAsync(context.Request.Body, RbeeJsonContext.Default.HiveReady, context.RequestAborted);
        }
        catch (JsonException e)
        {
            return ApiErrors.BadRequest("invalid_json", $"body is not a valid hive ready: {e.Message}");
        }
        var (url, error, param) = HiveReadyValidation.Validate(ready);
        if (url is null || ready is null) return ApiErrors.BadRequest("invalid_value", error ?? "body must be a JSON object", param);

        // A ready that says a live hive restarted would replace its entry and stream at once: the hive itself must say so
        // first, or anyone with the token could knock a real hive offline with a made-up instance_id.
        if (registry.Current.Find(ready.HiveId) is { IsLive: true } live && live.InstanceId != ready.InstanceId
            && Uri.Compare(live.HiveUrl, url, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0)
        {
            var seen = await RunningInstanceAsync(http, url, cluster.ConfirmTimeout, context.RequestAborted);
            if (seen != ready.InstanceId)
            {
                Log.ReadyUnconfirmed(loggers.CreateLogger("Rbee.Queen.Ready"), ready.HiveId, url.ToString(), ready.InstanceId, seen ?? "no answer");
                return ApiErrors.Conflict("instance_mismatch", seen is null
                    ? $"hive '{ready.HiveId}' is live; its /capabilities at {url} did not answer to confirm instance {ready.InstanceId}"
                    : $"hive '{ready.HiveId}' at {url} runs instance {seen}, not {ready.InstanceId}: the ready is refused and the live hive kept", "instance_id");
            }
        }

        var outcome = subscriptions.Accept(ready, url);
        if (outcome == ReadyOutcome.Conflict)
            return ApiErrors.Conflict("hive_id_taken", $"hive_id '{ready.HiveId}' is live at another hive_url", "hive_id");
        if (outcome == ReadyOutcome.Full)
            return ApiErrors.Unavailable("cluster_full", $"the queen's view holds Cluster:MaxHives = {cluster.MaxHives} hives, all live; raise it or stop a hive");
        Log.ReadyAccepted(loggers.CreateLogger("Rbee.Queen.Ready"), ready.HiveId, url.ToString(), ready.InstanceId, outcome.ToString());
        return Results.Json(new HiveReadyAccepted(ready.HiveId, ProtocolConstants.Version, ProtocolConstants.ProtocolVersion),
            RbeeJsonContext.Default.HiveReadyAccepted);
    }

    /// <summary>The instance id a hive's <c>/capabilities</c> reports, or null when it does not answer in time.</summary>
    private static async Task<string?> RunningInstanceAsync(ClusterHttp http, Uri hiveUrl, TimeSpan timeout, CancellationToken ct)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(timeout);
        try
        {
            using var request = http.Request(HttpMethod.Get, new Uri(hiveUrl, "/capabilities"));
            using var response = await http.Client.SendAsync(request, bound.Token);
            if (!response.IsSuccessStatusCode) return null;
            var caps = await JsonSerializer.DeserializeAsync(await response.Content.ReadAsStreamAsync(bound.Token), RbeeJsonContext.Default.Capabilities, bound.Token);
            return caps?.InstanceId;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or JsonException or IOException)
        {
            return null;
        }
    }

    private static async Task StreamAsync(HttpContext context, ClusterEventHub hub, ClusterRegistry registry, TimeProvider time,
        IHostApplicationLifetime lifetime)
    {
        // End with the reader or with the queen: a shutdown must not wait for streams that never end on their own.
        using var ends = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        var ct = ends.Token;
        // Subscribe before the first summary so no change between them is lost.
        using var subscription = hub.Subscribe();
        try
        {
            var sse = await SseResponse.StartAsync(context.Response, ct);
            var first = SummaryPublisher.Build(registry.Current, time.GetUtcNow());
            await sse.WriteEventAsync(first.Name, first.Json, ct);
            var reader = subscription.Reader;
            while (await reader.WaitToReadAsync(ct))
                while (reader.TryRead(out var e)) await sse.WriteEventAsync(e.Name, e.Json, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The reader went away.
        }
        catch (IOException) when (ct.IsCancellationRequested)
        {
        }
    }

    private static async Task<IResult> ShutdownAsync(HttpContext context, ClusterRegistry registry, ClusterHttp http,
        IOptions<QueenOptions> options, IHostApplicationLifetime lifetime, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("Rbee.Queen.Shutdown");
        var actor = Audit.Actor.Of(ControlCaller.Of(context));
        Log.ShutdownRequested(logger, actor.ToString());
        var audit = context.RequestServices.GetService(typeof(Audit.AuditLog)) as Audit.AuditLog;
        audit?.Write(actor, "shutdown", "queen", "stopping every hive's workers, the hives, then the queen");
        // Managed hives are wanted stopped before any is asked: the supervisor must not start again what this stops.
        var managed = context.RequestServices.GetService(typeof(Remote.ManagedHives)) as Remote.ManagedHives;
        foreach (var h in managed?.All ?? []) if (h.WantRunning) managed!.Put(h with { WantRunning = false });
        // A restart the supervisor began before that lands first, so the hives asked below are the ones that run.
        if (context.RequestServices.GetService(typeof(Remote.HiveSupervisor)) is Remote.HiveSupervisor supervisor) await supervisor.SettleAsync();
        var hives = registry.Current.Hives.Values.Where(e => e.State != HiveState.Incompatible).ToList();
        // What each hive ran, as last seen: the verification on a managed hive's host checks these are gone.
        var ran = hives.ToDictionary(e => e.HiveId, e => (HivePort: e.HiveUrl.Port, Workers: e.Workers.Select(w => (w.Port, w.Pid)).ToList()),
            StringComparer.Ordinal);
        // Cascade (DESIGN.md "Workers under the hive" Stop): each hive stops its workers, each call bounded.
        var results = await Task.WhenAll(hives.Select(async e =>
        {
            using var timeout = new CancellationTokenSource(options.Value.HiveShutdownTimeout);
            try
            {
                using var request = http.Request(HttpMethod.Post, new Uri(e.HiveUrl, "/v1/shutdown"));
                request.Content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(new ShutdownRequest(StopWorkers: true),
                    RbeeJsonContext.Default.ShutdownRequest));
                request.Content.Headers.ContentType = new("application/json");
                using var response = await http.Client.SendAsync(request, timeout.Token);
                return (e.HiveId, Result: response.IsSuccessStatusCode ? "stopped" : $"answered {(int)response.StatusCode}");
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
            {
                var why = ex is OperationCanceledException ? "no answer in time" : ex.Message;
                if (e.State != HiveState.Offline) Log.HiveShutdownFailed(logger, e.HiveId, why);
                return (e.HiveId, Result: $"failed: {why}");
            }
        }));
        var report = results.ToDictionary(r => r.HiveId, r => r.Result, StringComparer.Ordinal);
        if (managed is not null)
            await StopManagedHivesAsync(managed, audit, actor, options.Value, report, ran, logger);
        // Stop after this answer has been written, so the caller learns what happened.
        context.Response.OnCompleted(() =>
        {
            lifetime.StopApplication();
            return Task.CompletedTask;
        });
        return Results.Json(report, RbeeJsonContext.Default.DictionaryStringString);
    }

    /// <summary>
    /// The hives this queen manages over SSH (issue 14), already wanted stopped (so the supervisor does not start a hive
    /// the shutdown just stopped, and a restarted queen leaves them stopped until <c>rbee hive start --host</c>), each
    /// verified on its host: its rbee-hive gone (it stops and verifies its workers before it exits), else
    /// stopped there (SIGTERM, SIGKILL after 30 s); then the workers it last reported and their ports, and its own port,
    /// checked gone there too. Bounded: every host in parallel, each ssh run within 45 s.
    /// </summary>
    private static async Task StopManagedHivesAsync(Remote.ManagedHives managed, Audit.AuditLog? audit, Audit.Actor actor, QueenOptions options,
        Dictionary<string, string> report, Dictionary<string, (int HivePort, List<(int Port, int Pid)> Workers)> ran, ILogger logger)
    {
        var hives = managed.All;
        var ssh = new Rbee.Platform.Remote.Ssh(File.Exists(options.ResolvedSshConfigPath) ? options.ResolvedSshConfigPath : null, TimeSpan.FromSeconds(45));
        var checks = await Task.WhenAll(hives.Select(async h =>
        {
            try
            {
                var remote = new Rbee.Platform.Remote.RemoteHive(ssh, h.Alias);
                // A hive that accepted its shutdown is stopping its workers and exits by itself: given that time first.
                if (report.TryGetValue(h.Alias, out var asked) && asked == "stopped")
                    await remote.WaitExitAsync(options.HiveShutdownTimeout, CancellationToken.None);
                var (wasRunning, detail) = await remote.StopAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
                var outcome = wasRunning ? $"still running after the shutdown request; {detail}" : "exited (no rbee-hive runs there, checked over ssh)";
                var hivePort = ran.TryGetValue(h.Alias, out var r) ? r.HivePort : h.HiveUrl is { } u ? new Uri(u).Port : Rbee.Contracts.Protocol.ProtocolConstants.HivePort;
                var workers = r.Workers ?? [];
                var left = await remote.LeftoversAsync([hivePort, .. workers.Select(w => w.Port)], workers.Select(w => w.Pid), CancellationToken.None);
                outcome += left.Count == 0
                    ? $"; its {workers.Count} worker(s) gone and port(s) {string.Join(", ", new[] { hivePort }.Concat(workers.Select(w => w.Port)))} free"
                    : $"; left there: {string.Join(", ", left)}";
                audit?.Write(actor, "stop", h.Alias, outcome);
                return (h.Alias, Outcome: outcome);
            }
            catch (Rbee.Platform.Remote.SshException e)
            {
                Log.HiveShutdownFailed(logger, h.Alias, e.Message);
                return (h.Alias, Outcome: $"not verified: {e.Message}");
            }
        }));
        foreach (var (alias, outcome) in checks)
            report[alias] = report.TryGetValue(alias, out var asked) ? $"{asked}; {outcome}" : outcome;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = QueenEventIds.ReadyUnconfirmed, Level = LogLevel.Warning, Message = "ready from hive {HiveId} at {HiveUrl} claims instance {InstanceId}, the hive answers {Seen}: refused, the live hive kept")]
        public static partial void ReadyUnconfirmed(ILogger logger, string hiveId, string hiveUrl, string instanceId, string seen);

        [LoggerMessage(EventId = QueenEventIds.ReadyAccepted, Level = LogLevel.Information, Message = "ready from hive {HiveId} at {HiveUrl} instance {InstanceId}: {Outcome}")]
        public static partial void ReadyAccepted(ILogger logger, string hiveId, string hiveUrl, string instanceId, string outcome);

        [LoggerMessage(EventId = QueenEventIds.ShutdownRequested, Level = LogLevel.Information, Message = "shutdown requested by {Actor}: stopping hives, then the queen")]
        public static partial void ShutdownRequested(ILogger logger, string actor);

        [LoggerMessage(EventId = QueenEventIds.HiveShutdownFailed, Level = LogLevel.Warning, Message = "hive {HiveId} did not confirm shutdown: {Reason}")]
        public static partial void HiveShutdownFailed(ILogger logger, string hiveId, string reason);
    }
}
