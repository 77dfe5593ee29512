using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Queen.Audit;
using Rbee.Queen.Cluster;
using Rbee.Queen.Jobs;
using Rbee.Queen.Scheduling;

namespace Rbee.Queen.Models;

/// <summary>What a request waiting for a pull on demand is told (a streamed request turns each line into an SSE comment).</summary>
public interface IPullObserver
{
    void PullProgress(string line);
}

/// <summary>
/// Pulls on demand (issue 10, Ollama's habit): a request names an alias (<c>Models:Aliases</c>) that no hive has, and
/// <c>Models:PullOnDemand</c> is on. One hive is chosen (<see cref="IPullPlacement"/>: an online hive with an available
/// worker type that runs the model, the most free memory first), the hive job <c>model_download {source, name: alias}</c>
/// runs there (<see cref="HiveForwarder"/>), its progress reaches every waiting request, and the pull ends once the queen's
/// own view of that hive's catalog lists the model (awaited on the view, never polled); the request then goes on to the
/// normal cold start. Concurrent requests for one alias share one pull, which runs on the queen's lifetime, not a
/// request's: a request that leaves does not stop a download others (or the next request) will use. Bounded by
/// <see cref="ModelOptions.PullTimeout"/>; a failure is 502 <c>model_pull_failed</c> naming the hive and the reason.
/// Each pull is a line of the audit log (<c>model_download</c>, the first requester as actor), and so is its failure.
/// </summary>
public sealed partial class ModelPulls(
    ClusterRegistry registry,
    HiveForwarder hives,
    ModelOptions options,
    SchedulingOptions scheduling,
    IPullPlacement placement,
    TimeProvider time,
    AuditLog audit,
    ILogger<ModelPulls> logger,
    CancellationToken stopping = default)
{
    public const string PullFailedCode = "model_pull_failed";
    public const string NoHiveCode = "no_hive_for_pull";

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Pull> _pulls = new(StringComparer.Ordinal);

    /// <summary>The source <paramref name="model"/> is an alias of, or null.</summary>
    public string? SourceOf(string model) => options.Aliases.TryGetValue(model, out var source) ? source.Trim() : null;

    /// <summary>Pulls under way now.</summary>
    public int Running
    {
        get { lock (_gate) return _pulls.Count; }
    }

    /// <summary>
    /// Pulls the alias <paramref name="alias"/> (or joins its pull under way) and returns once its hive's catalog, as the
    /// queen holds it, lists it. Throws <see cref="SchedulingException"/>: 404 when it is no alias, or when pulls on demand
    /// are off (saying how to pull it); 503 when no hive can take it; 502 when the pull failed. <paramref name="ct"/> ends
    /// this caller's wait only. <paramref name="requester"/> is who sent the request; a pull it starts is audited as theirs.
    /// </summary>
    public async Task PullAsync(string alias, IPullObserver observer, CancellationToken ct, Actor? requester = null)
    {
        if (SourceOf(alias) is not { } source) throw SchedulingException.ModelNotFound(alias);
        if (!options.PullOnDemand)
            throw SchedulingException.ModelNotFound(alias,
                $"; it is an alias of {source}: pull it with `rbee pull {alias}` (the queen's job model_download), or set Models:PullOnDemand to true to have the queen pull it on the first request");
        Pull pull;
        lock (_gate)
        {
            if (!_pulls.TryGetValue(alias, out pull!))
            {
                pull = new Pull(alias, source, requester ?? Actor.Unknown);
                _pulls[alias] = pull;
                pull.Attach(observer);
                pull.Task = RunAsync(pull);
            }
            else
            {
                pull.Attach(observer);
            }
        }
        try
        {
            await pull.Task!.WaitAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            pull.Detach(observer);
        }
    }

    private async Task RunAsync(Pull pull)
    {
        await Task.Yield(); // never run under the table's lock, nor on the first caller's stack
        var started = time.GetTimestamp();
        string? hiveId = null;
        try
        {
            var chosen = placement.Pick(Candidates(registry.Current))
                ?? throw new SchedulingException(StatusCodes.Status503ServiceUnavailable, ErrorTypes.Unavailable, NoHiveCode,
                    $"no online hive can take the model '{pull.Alias}' ({pull.Source}) now: none has an available worker type of " +
                    $"Scheduling:WorkerTypes ({string.Join(", ", scheduling.WorkerTypes)})", "model");
            hiveId = chosen.HiveId;
            Log.PullStarted(logger, pull.Alias, pull.Source, hiveId, chosen.FreeBytes is { } f ? PullProgress.Bytes(f) : "unmeasured");
            audit.Write(pull.Requester, JobOperations.ModelDownload, $"{hiveId} {pull.Alias}", $"pull on demand of {pull.Source} for a request");
            pull.Report($"pulling {pull.Alias} ({pull.Source}) on {hiveId}");
            var model = await DownloadAsync(pull, hiveId).ConfigureAwait(false);
            Log.PullFinished(logger, pull.Alias, hiveId, model, time.GetElapsedTime(started).TotalSeconds);
        }
        catch (SchedulingException e)
        {
            Log.PullFailed(logger, pull.Alias, hiveId ?? "(none)", e.Message);
            if (hiveId is not null) audit.Write(pull.Requester, JobOperations.ModelDownload + " failed", $"{hiveId} {pull.Alias}", e.Message);
            throw;
        }
        finally
        {
            lock (_gate)
                if (_pulls.TryGetValue(pull.Alias, out var held) && ReferenceEquals(held, pull)) _pulls.Remove(pull.Alias);
        }
    }

    /// <summary>Runs the hive's download and waits for the model in the queen's view of the hive's catalog; returns its id.</summary>
    private async Task<string> DownloadAsync(Pull pull, string hiveId)
    {
        using var timeout = new CancellationTokenSource(options.PullTimeout, time);
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(stopping, timeout.Token);
        var progress = new PullProgress(pull.Alias, hiveId, time);
        ModelDownloaded? downloaded = null;
        try
        {
            await hives.RunAsync(hiveId, ModelJobs.HiveBody(null, JobOperations.ModelDownload, ("source", pull.Source), ("name", pull.Alias)),
                line => pull.Report($"[{hiveId}] {line}"),
                json =>
                {
                    switch (Read(json))
                    {
                        case ModelProgress p when progress.Next(p) is { } line:
                            pull.Report(line);
                            break;
                        case ModelDownloaded d:
                            downloaded = d;
                            pull.Report($"pulled {pull.Alias} on {hiveId}: {PullProgress.Bytes(d.Size)}, sha256 {d.Sha256}");
                            break;
                    }
                },
                bound.Token).ConfigureAwait(false);

            // The hive names the model it wrote; it is the alias unless the hive had to name it otherwise.
            var model = downloaded?.Model ?? pull.Alias;
            pull.Report($"waiting for hive {hiveId}'s catalog to list {model}");
            // The hive may go away before its catalog reaches the queen: that ends the wait too, never PullTimeout.
            var entry = registry.Current.Find(hiveId);
            await registry.WaitForAsync(s => Lists(s, hiveId, model) || entry is null || Jobs.HiveGoneWatch.IsGone(s, entry),
                Timeout.InfiniteTimeSpan, bound.Token).ConfigureAwait(false);
            if (!Lists(registry.Current, hiveId, model))
                throw Failed(pull, hiveId, $"the hive went away before its catalog listed {model}; the next request tries again");
            return model;
        }
        catch (JobFailedException e)
        {
            throw Failed(pull, hiveId, e.Message);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !stopping.IsCancellationRequested)
        {
            throw Failed(pull, hiveId, $"not done within {options.PullTimeout} (Models:PullTimeout)");
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            throw SchedulingException.Unavailable("shutting_down", $"the queen is stopping; the pull of '{pull.Alias}' on hive {hiveId} was cancelled");
        }
        catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException or SchedulingException))
        {
            // Whatever else went wrong, every waiting request gets an answer in OpenAI's shape, not a 500 without a reason.
            throw Failed(pull, hiveId, $"{e.GetType().Name}: {e.Message}");
        }
    }

    private static SchedulingException Failed(Pull pull, string hiveId, string why) =>
        new(StatusCodes.Status502BadGateway, ErrorTypes.Server, PullFailedCode,
            $"pulling the model '{pull.Alias}' ({pull.Source}) on hive {hiveId} failed: {why}", "model");

    private static bool Lists(ClusterSnapshot snapshot, string hiveId, string model) =>
        snapshot.Find(hiveId) is { CatalogVersion: not null, Catalog: { } catalog } && catalog.Models.Any(m => m.Id == model);

    /// <summary>Online hives with an available worker type of <see cref="SchedulingOptions.WorkerTypes"/>, each with the most
    /// memory free on one device that type runs on.</summary>
    public List<PullCandidate> Candidates(ClusterSnapshot snapshot)
    {
        var list = new List<PullCandidate>();
        foreach (var hive in snapshot.Hives.Values)
        {
            if (!ClusterModels.IsRoutable(hive) || ClusterModels.UsableType(hive, scheduling.WorkerTypes) is not { } type) continue;
            long? free = null;
            foreach (var device in hive.Capabilities?.Devices ?? [])
                if ((type.DeviceKinds ?? ["cpu"]).Contains(device.Kind) && ClusterModels.FreeBytes(hive, device.Id) is { } f && (free is null || f > free))
                    free = f;
            list.Add(new PullCandidate(hive.HiveId, type.Name, free));
        }
        return list;
    }

    private static JobDataEvent? Read(string json)
    {
        try { return JobEvents.TryRead(json, out var e) ? e : null; }
        catch (JsonException) { return null; } // a malformed event is the hive's bug; the pull's outcome still comes
    }

    /// <summary>
    /// One pull and the requests waiting for it. Each new waiter first hears the last line; every waiter hears the lines in
    /// order (observers are called under the pull's lock, so they must not block: the pipeline's queue a note and return).
    /// </summary>
    private sealed class Pull(string alias, string source, Actor requester)
    {
        private readonly Lock _gate = new();
        private readonly List<IPullObserver> _observers = [];
        private string? _last;

        public string Alias { get; } = alias;
        public string Source { get; } = source;

        /// <summary>Who sent the request that started the pull (later ones join it).</summary>
        public Actor Requester { get; } = requester;
        public Task? Task { get; set; }

        public void Attach(IPullObserver observer)
        {
            lock (_gate)
            {
                _observers.Add(observer);
                if (_last is not null) observer.PullProgress(_last);
            }
        }

        public void Detach(IPullObserver observer)
        {
            lock (_gate) _observers.Remove(observer);
        }

        public void Report(string line)
        {
            lock (_gate)
            {
                _last = line;
                foreach (var o in _observers) o.PullProgress(line);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = QueenEventIds.PullStarted, Level = LogLevel.Information, Message = "Pulling model {Model} ({Source}) on demand on hive {HiveId} (free memory {Free})")]
        public static partial void PullStarted(ILogger logger, string model, string source, string hiveId, string free);

        [LoggerMessage(EventId = QueenEventIds.PullFinished, Level = LogLevel.Information, Message = "Pulled model {Model} on hive {HiveId} as {ModelId} in {Seconds:0.#} s")]
        public static partial void PullFinished(ILogger logger, string model, string hiveId, string modelId, double seconds);

        [LoggerMessage(EventId = QueenEventIds.PullFailed, Level = LogLevel.Warning, Message = "Pulling model {Model} on hive {HiveId} failed: {Reason}")]
        public static partial void PullFailed(ILogger logger, string model, string hiveId, string reason);
    }
}
