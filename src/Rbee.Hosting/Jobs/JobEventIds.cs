namespace Rbee.Hosting.Jobs;

/// <summary>Event ids of the job registry's logs (STYLE.md §4); <c>HostingEventIds</c> use 1-99.</summary>
internal static class JobEventIds
{
    public const int JobStarted = 101;
    public const int JobFinished = 102;
    public const int JobCrashed = 103;
}
