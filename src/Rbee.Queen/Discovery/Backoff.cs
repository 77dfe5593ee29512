namespace Rbee.Queen.Discovery;

/// <summary>
/// Exponential backoff: the first retry waits <c>initial</c>, each further one twice as long, never more than
/// <c>max</c> (DESIGN.md "Discovery and telemetry" 2: probes 5 s doubling to 60 s).
/// </summary>
public sealed class Backoff(TimeSpan initial, TimeSpan max)
{
    public TimeSpan Initial { get; } = initial;
    public TimeSpan Max { get; } = max;

    /// <summary>The wait before retry number <paramref name="attempt"/> (0 = the first retry).</summary>
    public TimeSpan Delay(int attempt)
    {
        if (attempt < 0) throw new ArgumentOutOfRangeException(nameof(attempt));
        // Past 30 doublings every sane initial value is far above max; stop before the shift overflows.
        if (attempt >= 30) return Max;
        var ticks = Initial.Ticks * (1L << attempt);
        return ticks <= 0 || ticks >= Max.Ticks ? Max : TimeSpan.FromTicks(ticks);
    }
}
