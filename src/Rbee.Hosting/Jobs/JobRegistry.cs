using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Rbee.Hosting.Jobs;

/// <summary>The work of one job. It narrates into <paramref name="job"/>; returning ends it with <c>[DONE]</c>,
/// throwing with <c>[ERROR] message</c>, observing cancellation with <c>[CANCELLED]</c>.</summary>
public delegate Task JobWork(Job job, CancellationToken ct);

/// <summary>A failure whose message is meant for the operator (it becomes the <c>[ERROR]</c> line as is).</summary>
public sealed class JobFailedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Jobs of one daemon (queen or hive), in memory only: started, read by any number of subscribers, cancelled, and
/// dropped some time after they finish (DESIGN.md "Jobs").
/// </summary>
public sealed partial class JobRegistry : IDisposable
{
    private readonly ConcurrentDictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    private readonly JobOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<JobRegistry> _logger;
    private readonly ITimer _sweep;

    public JobRegistry(IOptions<JobOptions> options, TimeProvider time, ILogger<JobRegistry> logger)
    {
        _options = options.Value;
        _time = time;
        _logger = logger;
        var period = _options.RetainFinishedFor < TimeSpan.FromMinutes(1) ? _options.RetainFinishedFor : TimeSpan.FromMinutes(1);
        _sweep = time.CreateTimer(_ => Sweep(), null, period, period);
    }

    public int Count => _jobs.Count;

    /// <summary>Starts <paramref name="work"/> as a new job; null when the registry is full.</summary>
    public Job? Start(string operation, JobWork work)
    {
        Sweep();
        if (_jobs.Count >= _options.MaxJobs) return null;
        var job = new Job(Guid.NewGuid().ToString("N"), operation, _time.GetUtcNow());
        _jobs[job.Id] = job;
        Log.JobStarted(_logger, job.Id, operation);
        _ = Task.Run(() => RunAsync(job, work));
        return job;
    }

    public bool TryGet(string id, out Job job) => _jobs.TryGetValue(id, out job!);

    /// <summary>Asks a running job to stop; false when the id is unknown.</summary>
    public bool Cancel(string id)
    {
        if (!_jobs.TryGetValue(id, out var job)) return false;
        job.Cancel();
        return true;
    }

    private async Task RunAsync(Job job, JobWork work)
    {
        JobEvent terminal;
        try
        {
            await work(job, job.CancellationToken).ConfigureAwait(false);
            terminal = job.CancellationToken.IsCancellationRequested
                ? new JobEvent(JobEventKind.Cancelled, "")
                : new JobEvent(JobEventKind.Done, "");
        }
        catch (OperationCanceledException) when (job.CancellationToken.IsCancellationRequested)
        {
            terminal = new JobEvent(JobEventKind.Cancelled, "");
        }
        catch (JobFailedException e)
        {
            terminal = new JobEvent(JobEventKind.Error, OneLine(e.Message));
        }
        catch (Exception e)
        {
            Log.JobCrashed(_logger, job.Id, job.Operation, e);
            terminal = new JobEvent(JobEventKind.Error, OneLine($"{e.GetType().Name}: {e.Message}"));
        }
        job.TryFinish(terminal, _time.GetUtcNow());
        Log.JobFinished(_logger, job.Id, job.Operation, terminal.Kind);
    }

    // The terminal line is a single SSE data line; a multi-line reason is folded (the narration carries details).
    private static string OneLine(string s) => s.Replace("\r", "", StringComparison.Ordinal).Replace('\n', ' ').Trim();

    private void Sweep()
    {
        var cutoff = _time.GetUtcNow() - _options.RetainFinishedFor;
        foreach (var (id, job) in _jobs)
            if (job.FinishedAt is { } f && f < cutoff) _jobs.TryRemove(id, out _);
    }

    public void Dispose()
    {
        _sweep.Dispose();
        foreach (var job in _jobs.Values) job.Cancel();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = JobEventIds.JobStarted, Level = LogLevel.Information, Message = "Job {JobId} started: {Operation}")]
        public static partial void JobStarted(ILogger logger, string jobId, string operation);

        [LoggerMessage(EventId = JobEventIds.JobFinished, Level = LogLevel.Information, Message = "Job {JobId} ({Operation}) finished: {Outcome}")]
        public static partial void JobFinished(ILogger logger, string jobId, string operation, JobEventKind outcome);

        [LoggerMessage(EventId = JobEventIds.JobCrashed, Level = LogLevel.Error, Message = "Job {JobId} ({Operation}) failed unexpectedly")]
        public static partial void JobCrashed(ILogger logger, string jobId, string operation, Exception error);
    }
}
