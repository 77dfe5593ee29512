using Microsoft.Extensions.Options;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Queen.Cluster;

namespace Rbee.Queen.Jobs;

/// <summary>
/// Runs the queen's jobs on hives (DESIGN.md "Jobs"): one hive job posted and followed to its final line
/// (<see cref="RunAsync"/>), or the same job on several hives at once whose streams are merged into one queen job
/// (<see cref="RunEachAsync"/>). Either way a hive job is cancelled on the hive when the queen's is, and fails when its
/// hive leaves the view or goes offline (<see cref="HiveGoneWatch"/>) instead of waiting on a dead link.
/// </summary>
public sealed class HiveForwarder(ClusterRegistry registry, HiveJobClient hiveJobs, IOptions<QueenJobOptions> options)
{
    /// <summary>
    /// Posts <paramref name="body"/> to hive <paramref name="hiveId"/> and relays its stream to <paramref name="narration"/>
    /// and <paramref name="data"/> until the hive's final line. Returns the port of the last worker event (spawn, stop);
    /// throws <see cref="JobFailedException"/> naming the hive when the hive refuses, fails or goes away, and
    /// <see cref="OperationCanceledException"/> (after cancelling the hive's job) when <paramref name="ct"/> is cancelled.
    /// </summary>
    /// <param name="posted">Called once the hive took the job.</param>
    public async Task<int?> RunAsync(string hiveId, string body, Action<string> narration, Action<string> data, CancellationToken ct,
        Action<HiveEntry>? posted = null)
    {
        var hive = registry.Current.Find(hiveId) ?? throw new JobFailedException($"hive '{hiveId}' left the cluster view");
        if (!hive.IsLive) throw new JobFailedException($"hive '{hiveId}' is {hive.State.ToWire()}; it cannot take jobs now");

        var sse = await hiveJobs.PostAsync(hive, body, options.Value.ForwardTimeout, ct).ConfigureAwait(false);
        posted?.Invoke(hive);
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var watch = new HiveGoneWatch(registry, hive, bound);
        try
        {
            return await hiveJobs.RelayAsync(hiveId, sse, narration, data, bound.Token).ConfigureAwait(false);
        }
        catch (Exception) when (bound.IsCancellationRequested)
        {
            // Cancelled here, or the hive went away: either way its job must not run on unobserved.
            await hiveJobs.CancelAsync(sse, options.Value.ForwardTimeout).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            var state = registry.Current.Find(hiveId)?.State.ToWire() ?? "gone from the view";
            throw new JobFailedException($"hive {hiveId} went away during the job (now {state})");
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/> as <paramref name="operation"/> on every hive of <paramref name="hiveIds"/> in parallel,
    /// into one queen job: each hive's narration as <c>[hive_id] line</c>, its data events as they come (they carry their
    /// <c>hive_id</c>). Returns when every hive succeeded; otherwise throws <see cref="JobFailedException"/> naming each hive
    /// that failed and why, and those that succeeded. Cancelling <paramref name="ct"/> cancels every hive's job.
    /// </summary>
    public async Task RunEachAsync(Job job, string operation, IReadOnlyList<string> hiveIds, string body, CancellationToken ct)
    {
        var several = hiveIds.Count > 1;
        var failures = await Task.WhenAll(hiveIds.Select(id => BranchAsync(job, operation, id, body, several, ct))).ConfigureAwait(false);
        ct.ThrowIfCancellationRequested();
        var failed = hiveIds.Zip(failures).Where(p => p.Second is not null).ToList();
        if (failed.Count == 0) return;
        if (!several) throw new JobFailedException(failed[0].Second!);
        var succeeded = hiveIds.Zip(failures).Where(p => p.Second is null).Select(p => p.First).ToList();
        throw new JobFailedException($"{operation} failed on {failed.Count} of {hiveIds.Count} hives: {string.Join("; ", failed.Select(f => f.Second))}"
            + (succeeded.Count > 0 ? $"; succeeded on {string.Join(", ", succeeded)}" : ""));
    }

    /// <summary>One hive of <see cref="RunEachAsync"/>: null when it succeeded (or the job was cancelled), else why it failed.</summary>
    private async Task<string?> BranchAsync(Job job, string operation, string hiveId, string body, bool several, CancellationToken ct)
    {
        try
        {
            await RunAsync(hiveId, body, line => job.Narrate($"[{hiveId}] {line}"), job.Data, ct,
                hive => job.Narrate($"forwarded {operation} to hive {hiveId} ({hive.HiveUrl})")).ConfigureAwait(false);
            if (several) job.Narrate($"hive {hiveId}: done");
            return null;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return null;
        }
        catch (Exception e)
        {
            // One hive's failure, whatever it is, must not stop the others nor hide their outcome.
            var why = e is JobFailedException ? e.Message : $"hive {hiveId}: {e.GetType().Name}: {e.Message}";
            if (several) job.Narrate($"hive {hiveId}: failed: {why}");
            return why;
        }
    }
}
