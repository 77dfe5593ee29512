using System.Globalization;
using Rbee.Contracts.Wire;

namespace Rbee.Queen.Models;

/// <summary>
/// What a pull on demand tells the requests that wait for it, as SSE comments (<c>: pulling tinyllama on hive-a: 45%
/// (12.3 MB of 27.0 MB, 3.1 MB/s, ETA 5 s)</c>): the hive's <see cref="ModelProgress"/> in words, at most one line per
/// <see cref="Interval"/> however often the hive reports (the last one, at 100 %, always shows). Not thread-safe: one pull
/// reads one hive job stream.
/// </summary>
public sealed class PullProgress(string model, string hiveId, TimeProvider time)
{
    /// <summary>The least time between two progress lines.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private long? _shownAt;

    /// <summary>The line for <paramref name="p"/>, or null when one was shown less than <see cref="Interval"/> ago.</summary>
    public string? Next(ModelProgress p)
    {
        var now = time.GetTimestamp();
        var final = p.Total is { } t && p.Bytes >= t;
        if (!final && _shownAt is { } at && time.GetElapsedTime(at, now) < Interval) return null;
        _shownAt = now;
        return Line(model, hiveId, p);
    }

    /// <summary><c>pulling M on H: 45% (12.3 MB of 27.0 MB, 3.1 MB/s, ETA 5 s)</c>; without a total, the bytes so far.</summary>
    public static string Line(string model, string hiveId, ModelProgress p)
    {
        var details = new List<string>(3);
        string head;
        if (p.Total is { } total and > 0)
        {
            var pct = Math.Clamp(Math.Floor(100.0 * p.Bytes / total), 0, 100);
            head = string.Create(CultureInfo.InvariantCulture, $"{pct:0}%");
            details.Add($"{Bytes(p.Bytes)} of {Bytes(total)}");
        }
        else
        {
            head = Bytes(p.Bytes);
        }
        if (p.BytesPerS is { } rate and > 0) details.Add($"{Bytes((long)rate)}/s");
        if (p.EtaS is { } eta and >= 0) details.Add($"ETA {Duration(eta)}");
        return details.Count == 0 ? $"pulling {model} on {hiveId}: {head}" : $"pulling {model} on {hiveId}: {head} ({string.Join(", ", details)})";
    }

    /// <summary>Decimal units as download tools show them: <c>950 B</c>, <c>12.3 MB</c>, <c>4.1 GB</c>.</summary>
    public static string Bytes(long bytes) => bytes switch
    {
        < 1000 => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
        < 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e3:0.0} kB"),
        < 1_000_000_000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:0.0} MB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e9:0.0} GB"),
    };

    /// <summary><c>5 s</c>, <c>3 min 20 s</c>, <c>1 h 5 min</c>.</summary>
    public static string Duration(double seconds)
    {
        var s = (long)Math.Ceiling(seconds);
        return s switch
        {
            < 60 => string.Create(CultureInfo.InvariantCulture, $"{s} s"),
            < 3600 => string.Create(CultureInfo.InvariantCulture, $"{s / 60} min {s % 60} s"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{s / 3600} h {s % 3600 / 60} min"),
        };
    }
}
