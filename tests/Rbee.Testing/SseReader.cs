using System.Runtime.CompilerServices;
using System.Text;

namespace Rbee.Testing;

/// <summary>One server-sent event: its <c>event:</c> name (default "message") and joined <c>data:</c> lines.</summary>
public sealed record SseEvent(string Event, string Data);

/// <summary>Reads server-sent events from a response stream, for tests that await events instead of polling.</summary>
public static class SseReader
{
    public static async IAsyncEnumerable<SseEvent> ReadAsync(Stream stream, [EnumeratorCancellation] CancellationToken ct = default)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8);
        string? name = null;
        var data = new StringBuilder();
        while (true)
        {
            var line = await reader.ReadLineAsync(ct);
            if (line is null) yield break;
            if (line.Length == 0)
            {
                if (data.Length > 0 || name is not null)
                    yield return new SseEvent(name ?? "message", data.ToString());
                name = null;
                data.Clear();
                continue;
            }
            if (line.StartsWith(':')) continue;
            var colon = line.IndexOf(':');
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..].TrimStart(' ');
            if (field == "event") name = value;
            else if (field == "data")
            {
                if (data.Length > 0) data.Append('\n');
                data.Append(value);
            }
        }
    }
}
