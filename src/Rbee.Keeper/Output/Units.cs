using System.Globalization;

namespace Rbee.Keeper.Output;

/// <summary>Sizes, rates and durations as the tables print them.</summary>
public static class Units
{
    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.0", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (bytes / (double)(1L << 10)).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };

    public static string Duration(TimeSpan t) => t.TotalSeconds switch
    {
        < 0 => "0s",
        < 60 => $"{(int)t.TotalSeconds}s",
        < 3600 => $"{(int)t.TotalMinutes}m{t.Seconds:00}s",
        < 86400 => $"{(int)t.TotalHours}h{t.Minutes:00}m",
        _ => $"{(int)t.TotalDays}d{t.Hours:00}h",
    };

    public static string Number(int? n) => n?.ToString(CultureInfo.InvariantCulture) ?? "-";

    public static string Percent(double? p) => p?.ToString("0.0", CultureInfo.InvariantCulture) ?? "-";
}
