using System.Text;

namespace Rbee.Platform.Sse;

/// <summary>One server-sent event: its name (<c>message</c> when the stream gave none) and its data lines joined by '\n'.</summary>
public readonly record struct SseEvent(string Event, string Data);

/// <summary>
/// The client side of every rbee SSE stream (a hive's telemetry, the queen's aggregate stream, job streams), so the
/// queen and the keeper parse them one way. Follows the HTML event-stream rules that matter here: comments
/// (<c>:</c>) are skipped (or handed to <c>comment</c>, for a client that shows them, such as the queen's
/// <c>: queued position=1</c> while a request waits), one leading space of a value is dropped, an event is dispatched at the blank line after at
/// least one <c>data:</c> line (an empty <c>data:</c> is an event with empty data), and a name with no data is not.
/// A telemetry frame is one data line, so the common case costs the line and its value, nothing more.
/// </summary>
public sealed class SseEventReader(Stream stream, Action<string>? comment = null) : IDisposable
{
    private readonly StreamReader _reader = new(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 16 * 1024);
    private StringBuilder? _joined;

    /// <summary>The next event, or null when the stream ended.</summary>
    public async ValueTask<SseEvent?> NextAsync(CancellationToken ct)
    {
        string? name = null;
        string? data = null;
        var lines = 0;
        while (true)
        {
            var line = await _reader.ReadLineAsync(ct).ConfigureAwait(false);
            if (line is null) return null;
            if (line.Length == 0)
            {
                if (lines > 0) return new SseEvent(name ?? "message", lines == 1 ? data! : _joined!.ToString());
                name = null;
                continue;
            }
            if (line[0] == ':')
            {
                comment?.Invoke(line.Length > 1 && line[1] == ' ' ? line[2..] : line[1..]);
                continue;
            }
            var colon = line.IndexOf(':');
            var field = colon < 0 ? line.AsSpan() : line.AsSpan(0, colon);
            var start = colon < 0 ? line.Length : colon + 1;
            if (start < line.Length && line[start] == ' ') start++;
            if (field is "event") name = line[start..];
            else if (field is "data")
            {
                var value = line[start..];
                if (++lines == 1) data = value;
                else
                {
                    if (lines == 2) (_joined ??= new StringBuilder()).Clear().Append(data);
                    _joined!.Append('\n').Append(value);
                }
            }
        }
    }

    public void Dispose() => _reader.Dispose();
}
