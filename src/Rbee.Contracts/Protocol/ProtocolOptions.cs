namespace Rbee.Contracts.Protocol;

/// <summary>
/// The protocol's timers (DESIGN.md "Discovery and telemetry", "Testing on 2 cores"). Defaults are the protocol
/// constants; configuration (section <c>Protocol</c>, env <c>RBEE_Protocol__…</c>, flags) may scale them for tests.
/// </summary>
public sealed class ProtocolOptions
{
    public const string SectionName = "Protocol";

    /// <summary>Interval between telemetry frames on a hive's stream.</summary>
    public TimeSpan TelemetryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Sleep before each try of <c>POST /v1/hive/ready</c>: 0, 2, 4, 8, 16 s, so tries start at 0, 2, 6, 14, 30 s.</summary>
    public TimeSpan[] ReadySchedule { get; set; } =
        [TimeSpan.Zero, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(16)];

    /// <summary>Time-out of one ready try.</summary>
    public TimeSpan ReadyTryTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A hive with no frame for this long is <c>degraded</c>.</summary>
    public TimeSpan DegradedAfter { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>A hive with no frame for this long is <c>offline</c> (at once when its stream closes).</summary>
    public TimeSpan OfflineAfter { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A hive that got a 2xx ready restarts its ready sequence when no subscription follows within this.</summary>
    public TimeSpan SubscriptionExpectedWithin { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Interval of the queen's cluster summary on its aggregate stream.</summary>
    public TimeSpan SummaryInterval { get; set; } = TimeSpan.FromSeconds(2.5);

    /// <summary>Returns the first problem with these values, or null when they are usable.</summary>
    public string? Validate()
    {
        if (TelemetryInterval <= TimeSpan.Zero) return "Protocol:TelemetryInterval must be positive";
        if (ReadySchedule is null || ReadySchedule.Length == 0) return "Protocol:ReadySchedule must name at least one delay";
        if (ReadySchedule.Any(d => d < TimeSpan.Zero)) return "Protocol:ReadySchedule delays must not be negative";
        if (ReadyTryTimeout <= TimeSpan.Zero) return "Protocol:ReadyTryTimeout must be positive";
        if (DegradedAfter <= TimeSpan.Zero) return "Protocol:DegradedAfter must be positive";
        if (OfflineAfter <= DegradedAfter) return "Protocol:OfflineAfter must be longer than Protocol:DegradedAfter";
        if (SubscriptionExpectedWithin <= TimeSpan.Zero) return "Protocol:SubscriptionExpectedWithin must be positive";
        if (SummaryInterval <= TimeSpan.Zero) return "Protocol:SummaryInterval must be positive";
        return null;
    }
}
