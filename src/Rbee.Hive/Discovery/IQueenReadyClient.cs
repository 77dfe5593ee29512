using Rbee.Contracts.Wire;

namespace Rbee.Hive.Discovery;

public enum ReadyOutcomeKind
{
    /// <summary>2xx: the queen knows the hive and will subscribe.</summary>
    Accepted,
    /// <summary>409: the hive id is held by another live hive URL (DESIGN.md "Discovery and telemetry" 4).</summary>
    Conflict,
    /// <summary>Anything else: refused connection, time-out, other status.</summary>
    Failed,
}

public readonly record struct ReadyOutcome(ReadyOutcomeKind Kind, string Detail)
{
    public static ReadyOutcome Accepted() => new(ReadyOutcomeKind.Accepted, "accepted");
    public static ReadyOutcome Conflict(string detail) => new(ReadyOutcomeKind.Conflict, detail);
    public static ReadyOutcome Failed(string detail) => new(ReadyOutcomeKind.Failed, detail);
}

/// <summary>One <c>POST {queen}/v1/hive/ready</c>. The caller bounds it in time.</summary>
public interface IQueenReadyClient
{
    Task<ReadyOutcome> PostReadyAsync(Uri queen, HiveReady ready, CancellationToken ct);
}
