namespace Rbee.Hosting.Jobs;

/// <summary>Tunables of the job registry (section <c>Jobs</c>).</summary>
public sealed class JobOptions
{
    public const string SectionName = "Jobs";

    /// <summary>How long a finished job stays readable (late subscribers still get its whole stream).</summary>
    public TimeSpan RetainFinishedFor { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Largest accepted <c>POST /v1/jobs</c> body.</summary>
    public int MaxRequestBytes { get; set; } = 64 * 1024;

    /// <summary>Most jobs held at once (running plus retained); a new job beyond it is refused with 429.</summary>
    public int MaxJobs { get; set; } = 10_000;

    public string? Validate()
    {
        if (RetainFinishedFor <= TimeSpan.Zero) return "Jobs:RetainFinishedFor must be positive";
        if (MaxRequestBytes < 256) return "Jobs:MaxRequestBytes must be at least 256";
        if (MaxJobs < 1) return "Jobs:MaxJobs must be at least 1";
        return null;
    }
}
