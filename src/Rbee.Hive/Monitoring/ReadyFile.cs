using System.Text.Json;

namespace Rbee.Hive.Monitoring;

/// <summary>
/// The built-in worker's readiness signal (DESIGN.md "Workers under the hive", launch contract): a JSON line
/// <c>{"event":"ready",…,"pid":N}</c> written atomically to its ready file.
/// </summary>
public static class ReadyFile
{
    /// <summary>The file exists and names one of the worker's own pids (a stale file from an earlier worker on this port
    /// does not count; a file without a pid does).</summary>
    public static bool NamesOneOf(string path, IReadOnlyCollection<int> pids)
    {
        if (!KernelFile.TryRead(path, out var text) || text.IsEmpty) return false;
        return Parse(text, pids);
    }

    public static bool Parse(ReadOnlySpan<byte> text, IReadOnlyCollection<int> pids)
    {
        try
        {
            var reader = new Utf8JsonReader(text);
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return false;
            if (root.TryGetProperty("event", out var ev) && ev.ValueKind == JsonValueKind.String && ev.GetString() != "ready") return false;
            if (root.TryGetProperty("pid", out var pid) && pid.TryGetInt32(out var p)) return pids.Contains(p);
            return true;
        }
        catch (JsonException)
        {
            return false; // half-written by a worker that does not rename atomically: the next event re-reads it
        }
    }
}
