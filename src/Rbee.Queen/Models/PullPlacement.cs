namespace Rbee.Queen.Models;

/// <summary>A hive that could take a pull on demand: online, with an available worker type that runs the model, and the
/// most memory its frame shows free on a device that type runs on (null when it measured none).</summary>
public sealed record PullCandidate(string HiveId, string WorkerType, long? FreeBytes);

/// <summary>Which hive a model pulled on demand goes to (a policy: STYLE.md §2).</summary>
public interface IPullPlacement
{
    PullCandidate? Pick(IReadOnlyList<PullCandidate> candidates);
}

/// <summary>
/// The hive with the most free memory on one device its worker type runs on (RAM for <c>cpu</c>, VRAM for <c>cuda:N</c>),
/// so the cold start that follows the pull is likeliest to fit there; a hive that measured nothing comes last; ties go to
/// the lower hive id, so the choice is the same on every run. Disk space is not in the telemetry, so it is not weighed:
/// a hive short of disk fails the download and the request gets the hive's reason.
/// </summary>
public sealed class MostFreeMemoryPullPlacement : IPullPlacement
{
    public PullCandidate? Pick(IReadOnlyList<PullCandidate> candidates) =>
        candidates.OrderByDescending(c => c.FreeBytes ?? -1).ThenBy(c => c.HiveId, StringComparer.Ordinal).FirstOrDefault();
}
