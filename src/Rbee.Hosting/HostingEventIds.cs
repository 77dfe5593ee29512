namespace Rbee.Hosting;

/// <summary>Event ids of the shared plumbing's log lines (STYLE.md §4); the daemons number theirs from 100.</summary>
internal static class HostingEventIds
{
    public const int UnhandledError = 1;
    public const int AccessRefused = 2;
    public const int ClusterTokenCreated = 3;
    public const int ClusterTokenSource = 4;
    public const int ConnectionsRefused = 5;
}
