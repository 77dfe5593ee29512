namespace Rbee.Worker.Sampling;

/// <summary>
/// Finds OpenAI <c>stop</c> strings in generated text. A stop string may arrive split over several tokens, so
/// while streaming the matcher also says how much text is safe to send: text that could be the start of a stop
/// string is held back until the next token proves it is not.
/// </summary>
public sealed class StopStringMatcher
{
    private readonly string[] _stops;
    private readonly int _longest;

    public StopStringMatcher(IReadOnlyList<string> stops)
    {
        _stops = stops.Where(s => s.Length > 0).ToArray();
        _longest = _stops.Length == 0 ? 0 : _stops.Max(s => s.Length);
    }

    public bool IsEmpty => _stops.Length == 0;

    /// <summary>
    /// Scans <paramref name="text"/> (all text generated so far), of which the part from <paramref name="emitted"/>
    /// on has not been sent yet. Returns the index of the first stop string (text from there on is dropped) or -1,
    /// and in <paramref name="safeEnd"/> the end of the text that can be sent now.
    /// </summary>
    public int Scan(ReadOnlySpan<char> text, int emitted, out int safeEnd)
    {
        if (_stops.Length == 0) { safeEnd = text.Length; return -1; }
        var first = -1;
        foreach (var stop in _stops)
        {
            // A match must end in the unsent part (earlier text was already checked), so it starts at most
            // stop.Length - 1 characters before it.
            var from = Math.Max(0, emitted - stop.Length + 1);
            var at = text[from..].IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || from + at < first)) first = from + at;
        }
        if (first >= 0) { safeEnd = first; return first; }

        // Hold back the longest tail that is a proper prefix of some stop string.
        var maxHold = Math.Min(_longest - 1, text.Length - emitted);
        for (var k = maxHold; k > 0; k--)
        {
            var tail = text[^k..];
            foreach (var stop in _stops)
            {
                if (stop.Length > k && stop.AsSpan().StartsWith(tail, StringComparison.Ordinal))
                {
                    safeEnd = text.Length - k;
                    return -1;
                }
            }
        }
        safeEnd = text.Length;
        return -1;
    }
}
