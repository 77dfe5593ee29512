namespace Rbee.Hosting.Logging;

/// <summary>
/// At most one log line per key (a caller's address) per <c>interval</c>, and a count of the lines held back, so a
/// remote caller cannot fill the operator's disk by repeating a refused request (issue 12): the first refusal from an
/// address is logged at once, the next ones within the interval are counted and reported with the next line. Bounded:
/// beyond <c>maxKeys</c> addresses in one interval the rest share one key.
/// </summary>
public sealed class LogThrottle(TimeProvider time, TimeSpan interval, int maxKeys = 1024)
{
    private const string Overflow = "*";
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Window> _windows = new(StringComparer.Ordinal);

    private sealed class Window
    {
        public DateTimeOffset Until;
        public long Held;
    }

    /// <summary>True when a line for <paramref name="key"/> may be written now; <paramref name="held"/> is how many were
    /// held back since the last one.</summary>
    public bool TryEnter(string key, out long held)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            if (!_windows.TryGetValue(key, out var w))
            {
                if (_windows.Count >= maxKeys) Forget(now);
                if (_windows.Count >= maxKeys) key = Overflow;
                if (!_windows.TryGetValue(key, out w)) _windows[key] = w = new Window { Until = DateTimeOffset.MinValue };
            }
            if (now < w.Until)
            {
                w.Held++;
                held = 0;
                return false;
            }
            held = w.Held;
            w.Held = 0;
            w.Until = now + interval;
            return true;
        }
    }

    private void Forget(DateTimeOffset now)
    {
        foreach (var (k, w) in _windows)
            if (now >= w.Until && w.Held == 0) _windows.Remove(k);
    }
}
