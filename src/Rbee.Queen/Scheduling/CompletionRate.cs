namespace Rbee.Queen.Scheduling;

/// <summary>
/// How fast one model's requests complete, from the last completions seen (a ring of their times): what a client that
/// is told to come back should wait. <c>Retry-After</c> is derived from it, never a constant (DESIGN.md "Scheduling
/// and routing").
/// </summary>
public sealed class CompletionRate(TimeProvider time, int capacity = 32)
{
    private readonly long[] _ticks = new long[capacity];
    private readonly Lock _gate = new();
    private int _count;
    private int _next;

    /// <summary>Completions older than this say nothing about the present rate.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);

    public void Completed()
    {
        lock (_gate)
        {
            _ticks[_next] = time.GetUtcNow().UtcTicks;
            _next = (_next + 1) % _ticks.Length;
            if (_count < _ticks.Length) _count++;
        }
    }

    /// <summary>Completions per second over the recent ones, or null with fewer than two in the window.</summary>
    public double? PerSecond()
    {
        var now = time.GetUtcNow().UtcTicks;
        lock (_gate)
        {
            long first = long.MaxValue, last = long.MinValue;
            var n = 0;
            for (var i = 0; i < _count; i++)
            {
                var t = _ticks[i];
                if (now - t > Window.Ticks) continue;
                n++;
                if (t < first) first = t;
                if (t > last) last = t;
            }
            // n completions span n-1 intervals; also count the time since the last one, so a rate measured long ago
            // and not repeated since decays instead of promising a fast queue.
            var span = now - first;
            return n >= 2 && span > 0 ? (n - 1) / TimeSpan.FromTicks(span).TotalSeconds : null;
        }
    }

    /// <summary>
    /// Whole seconds until about <paramref name="ahead"/> requests have completed, between 1 and <paramref name="max"/>.
    /// Without a measured rate, <paramref name="fallback"/> (a measured age, e.g. the longest wait now) stands in.
    /// </summary>
    public int RetryAfterSeconds(int ahead, TimeSpan fallback, TimeSpan max)
    {
        var seconds = PerSecond() is { } rate and > 0 ? Math.Max(1, ahead) / rate : fallback.TotalSeconds;
        return (int)Math.Clamp(Math.Ceiling(seconds), 1, Math.Max(1, Math.Ceiling(max.TotalSeconds)));
    }
}
