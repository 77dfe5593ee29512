namespace Rbee.Queen.Cluster;

/// <summary>
/// Bounds on the queen's cluster view (section <c>Cluster</c>): how many hives it keeps, and how long it remembers one
/// that went offline. Anyone with the token can send readies; these keep a flood of them from growing the view without
/// end (DESIGN.md "Security").
/// </summary>
public sealed class ClusterOptions
{
    public const string SectionName = "Cluster";

    /// <summary>Hives in the view at most. At the bound, a new hive takes the place of the one offline longest; when every
    /// hive is live, its ready is refused with 503.</summary>
    public int MaxHives { get; set; } = 1000;

    /// <summary>A hive offline this long is forgotten (logged), unless the SSH config names it.</summary>
    public TimeSpan ForgetOfflineAfter { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long the queen waits for a hive's <c>/capabilities</c> when a ready claims a live hive restarted.</summary>
    public TimeSpan ConfirmTimeout { get; set; } = TimeSpan.FromSeconds(2);

    public string? Validate()
    {
        if (MaxHives < 1) return "Cluster:MaxHives must be at least 1";
        if (ForgetOfflineAfter <= TimeSpan.Zero) return "Cluster:ForgetOfflineAfter must be positive";
        if (ConfirmTimeout <= TimeSpan.Zero) return "Cluster:ConfirmTimeout must be positive";
        return null;
    }
}
