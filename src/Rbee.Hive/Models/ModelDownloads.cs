using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Hive.Identity;
using Rbee.Hosting.Jobs;
using Rbee.Models.Downloads;
using Rbee.Platform.Configuration;
using Rbee.Platform.Paths;

namespace Rbee.Hive.Models;

/// <summary>
/// The hive's running downloads, one per target file: a second <c>model_download</c> of the same file joins the one that
/// runs and both jobs follow it (its narration and progress go to every follower). The download stops only when its last
/// follower leaves (each job's <c>DELETE /v1/jobs/{id}</c>) or the hive stops; its <c>.part</c> file stays for the next one
/// to resume. A finished download rescans the catalog before its followers hear of it, so a job's <c>downloaded</c> event
/// means the model is listed.
/// </summary>
public sealed partial class ModelDownloads(
    ModelDownloader downloader,
    HiveModelCatalog catalog,
    HiveIdentity identity,
    IHostApplicationLifetime lifetime,
    ILogger<ModelDownloads> logger)
{
    private readonly object _gate = new();
    private readonly Dictionary<string, Download> _running = new(StringComparer.Ordinal);
    private readonly ModelDownloader _downloader = downloader;
    private readonly HiveModelCatalog _catalog = catalog;
    private readonly ILogger _logger = logger;

    public ModelDownloader Downloader => _downloader;

    public string HiveId => identity.HiveId;

    /// <summary>Downloads <paramref name="url"/> to <paramref name="target"/> for <paramref name="job"/>, joining a download of
    /// the same file that runs already; throws <see cref="JobFailedException"/> with the reason when it fails.</summary>
    public async Task<DownloadResult> FollowAsync(Job job, Uri url, string origin, string? sha256, DownloadTarget target, CancellationToken ct)
    {
        while (true)
        {
            Download download;
            bool joined, added;
            lock (_gate)
            {
                joined = _running.TryGetValue(target.FinalPath, out download!);
                if (joined && download.Url != url)
                    throw new JobFailedException($"{target.FinalPath} is being downloaded from {download.Origin}; wait for that download or give this one another name");
                if (!joined)
                {
                    download = new Download(this, url, origin, sha256, target);
                    _running[target.FinalPath] = download;
                }
                added = download.TryAdd(job);
            }
            if (!added)
            {
                // The last follower of that download just left and it is winding down: start afresh once it has.
                await ((Task)download.Completion).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default)
                    .WaitAsync(ct).ConfigureAwait(false);
                continue;
            }

            if (joined)
                job.Narrate($"joining the download of {download.Origin} already running on this hive{(download.Last is { } p ? $" ({p.Bytes} bytes so far)" : "")}");
            else
                download.Start(lifetime.ApplicationStopping);
            try
            {
                return await download.Completion.WaitAsync(ct).ConfigureAwait(false);
            }
            catch (DownloadFailedException e)
            {
                throw new JobFailedException(e.Message, e);
            }
            catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
            {
                // Not this job's cancel: the hive is stopping.
                throw new JobFailedException($"the hive is stopping; the {download.Last?.Bytes ?? 0} bytes so far are kept in {target.PartPath} for the next download to resume", e);
            }
            finally
            {
                download.Remove(job);
            }
        }
    }

    /// <summary>Whether a download to <paramref name="finalPath"/> runs now.</summary>
    public bool IsRunning(string finalPath)
    {
        lock (_gate) return _running.ContainsKey(finalPath);
    }

    private void Finished(Download download)
    {
        lock (_gate)
            if (_running.TryGetValue(download.Target.FinalPath, out var current) && current == download) _running.Remove(download.Target.FinalPath);
    }

    /// <summary>One file being fetched, and the jobs that follow it.</summary>
    private sealed class Download(ModelDownloads owner, Uri url, string origin, string? sha256, DownloadTarget target) : IDownloadObserver
    {
        private readonly object _gate = new();
        private readonly List<Job> _followers = [];
        private readonly CancellationTokenSource _cancel = new();
        private readonly TaskCompletionSource<DownloadResult> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private bool _abandoned;

        public Uri Url { get; } = url;
        public string Origin { get; } = origin;
        public DownloadTarget Target { get; } = target;
        public DownloadProgress? Last { get; private set; }
        public Task<DownloadResult> Completion => _done.Task;

        /// <summary>False when the download is being abandoned (its last follower left) and must not be joined.</summary>
        public bool TryAdd(Job job)
        {
            lock (_gate)
            {
                if (_abandoned) return false;
                _followers.Add(job);
                return true;
            }
        }

        /// <summary>A follower leaves; the last one to leave before the end cancels the download.</summary>
        public void Remove(Job job)
        {
            lock (_gate)
            {
                if (!_followers.Remove(job) || _followers.Count > 0 || _done.Task.IsCompleted) return;
                _abandoned = true;
            }
            _cancel.Cancel();
        }

        public void Start(CancellationToken stopping)
        {
            _ = Task.Run(() => RunAsync(stopping));
        }

        private async Task RunAsync(CancellationToken stopping)
        {
            var model = Target.Name;
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(_cancel.Token, stopping);
            Log.Started(owner._logger, model, Origin, Target.FinalPath);
            try
            {
                var result = await owner._downloader.DownloadAsync(Url, Origin, sha256, Target, this, linked.Token).ConfigureAwait(false);
                // Listed before anyone hears it is done.
                try { owner._catalog.Rescan(); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { Narrate($"the catalog rescan failed ({e.Message}); the model is listed at the next one"); }
                Log.Finished(owner._logger, model, result.Size, result.Sha256, result.AlreadyPresent);
                owner.Finished(this);
                _done.TrySetResult(result);
            }
            catch (OperationCanceledException) when (linked.IsCancellationRequested)
            {
                Log.Cancelled(owner._logger, model, Last?.Bytes ?? 0, Target.PartPath);
                owner.Finished(this);
                _done.TrySetCanceled(linked.Token);
            }
            catch (Exception e)
            {
                var failure = e as DownloadFailedException ?? new DownloadFailedException($"the download failed: {e.Message}", e);
                Log.Failed(owner._logger, model, Origin, failure.Message);
                owner.Finished(this);
                _done.TrySetException(failure);
            }
        }

        private Job[] Followers()
        {
            lock (_gate) return [.. _followers];
        }

        public void Narrate(string line)
        {
            foreach (var job in Followers()) job.Narrate(line);
        }

        public void Progress(DownloadProgress progress)
        {
            Last = progress;
            var e = new ModelProgress(Target.Name, owner.HiveId, progress.Bytes, progress.Total,
                progress.BytesPerSecond is { } r ? Math.Round(r) : null, progress.EtaSeconds is { } eta ? Math.Round(eta, 1) : null);
            foreach (var job in Followers()) job.Data(e);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = HiveEventIds.ModelDownloadStarted, Level = LogLevel.Information, Message = "Model download {Model} from {Origin} to {Path} started")]
        public static partial void Started(ILogger logger, string model, string origin, string path);

        [LoggerMessage(EventId = HiveEventIds.ModelDownloadFinished, Level = LogLevel.Information, Message = "Model download {Model} finished: {Size} bytes, sha256 {Sha256} (already present: {AlreadyPresent})")]
        public static partial void Finished(ILogger logger, string model, long size, string sha256, bool alreadyPresent);

        [LoggerMessage(EventId = HiveEventIds.ModelDownloadFailed, Level = LogLevel.Warning, Message = "Model download {Model} from {Origin} failed: {Reason}")]
        public static partial void Failed(ILogger logger, string model, string origin, string reason);

        [LoggerMessage(EventId = HiveEventIds.ModelDownloadCancelled, Level = LogLevel.Information, Message = "Model download {Model} stopped at byte {Bytes}; {PartPath} is kept for the next download to resume")]
        public static partial void Cancelled(ILogger logger, string model, long bytes, string partPath);
    }
}

/// <summary>The hive's download settings (section <c>Downloads</c>); Hugging Face's own variables fill what is not configured.</summary>
public static class ModelDownloadsHosting
{
    public const string SectionName = "Downloads";

    /// <summary>
    /// Binds <see cref="ModelDownloaderOptions"/> (exit 2 with one line on a bad value): <c>Downloads:HuggingFaceEndpoint</c>,
    /// else <c>HF_ENDPOINT</c>; <c>Downloads:HuggingFaceToken</c>, else <c>HF_TOKEN</c>, else the token file Hugging Face's
    /// tools write (<c>HF_TOKEN_PATH</c>, else <c>$HF_HOME/token</c>, else <c>~/.cache/huggingface/token</c>).
    /// </summary>
    public static void AddHiveModelDownloads(this WebApplicationBuilder builder)
    {
        var options = OptionsBinding.Bind<ModelDownloaderOptions>(builder.Configuration, SectionName, static (c, o) => c.Bind(o), null);
        if (builder.Configuration[$"{SectionName}:HuggingFaceEndpoint"] is null && Environment.GetEnvironmentVariable("HF_ENDPOINT") is { Length: > 0 } endpoint)
            options.HuggingFaceEndpoint = endpoint;
        options.HuggingFaceToken ??= HuggingFaceToken();
        if (options.Validate(SectionName) is { } problem) throw new StartupException(problem);

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(sp => new ModelDownloader(ModelDownloader.CreateHttpClient($"rbee-hive/{ProtocolConstants.Version}"), options,
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<ModelDownloads>();
    }

    private static string? HuggingFaceToken()
    {
        if (Environment.GetEnvironmentVariable("HF_TOKEN") is { Length: > 0 } token) return token.Trim();
        var home = Environment.GetEnvironmentVariable("HF_HOME") is { Length: > 0 } h ? h : Path.Combine(RbeePaths.Home, ".cache", "huggingface");
        var file = Environment.GetEnvironmentVariable("HF_TOKEN_PATH") is { Length: > 0 } p ? p : Path.Combine(home, "token");
        try { return File.Exists(file) && File.ReadAllText(file).Trim() is { Length: > 0 } t ? t : null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }
}
