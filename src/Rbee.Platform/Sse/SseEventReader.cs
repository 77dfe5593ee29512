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
    /// <summary>
    /// The longest line, and the largest event, a peer may send: far above any frame or job event rbee writes (a
    /// telemetry frame of a hundred workers is tens of kilobytes), and a bound on what a peer that never sends a newline
    /// can make the reader hold. Past it the reader throws <see cref="InvalidDataException"/>, which ends the stream.
    /// </summary>
    public const int MaxLineChars = 4 << 20;

    private readonly StreamReader _reader = new(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 16 * 1024);
    private readonly char[] _buffer = new char[16 * 1024];
    private readonly StringBuilder _line = new();
    private int _start;
    private int _end;
    private bool _ended;
    private bool _afterCr;
    private StringBuilder? _joined;

    /// <summary>The next event, or null when the stream ended.</summary>
    public async ValueTask<SseEvent?> NextAsync(CancellationToken ct)
    {
        string? name = null;
        string? data = null;
        var lines = 0;
        while (true)
        {
            var line = await ReadLineAsync(ct).ConfigureAwait(false);
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
                    if (_joined!.Length + value.Length + 1 > MaxLineChars)
                        throw new InvalidDataException($"an SSE event of more than {MaxLineChars} characters");
                    _joined.Append('\n').Append(value);
                }
            }
        }
    }

    /// <summary>A line ended by CR, LF or CRLF (the event-stream rule), or the last one at the end; null after it.</summary>
    private async ValueTask<string?> ReadLineAsync(CancellationToken ct)
    {
        while (true)
        {
            for (var i = _start; i < _end; i++)
            {
                var c = _buffer[i];
                if (_afterCr)
                {
                    _afterCr = false;
                    // The LF of a CRLF whose CR ended the last line.
                    if (c == '\n' && i == _start)
                    {
                        _start++;
                        continue;
                    }
                }
                if (c is not ('\n' or '\r')) continue;
                string line;
                if (_line.Length == 0) line = new string(_buffer, _start, i - _start);
                else
                {
                    Append(i - _start);
                    line = _line.ToString();
                    _line.Clear();
                }
                _start = i + 1;
                _afterCr = c == '\r';
                return line;
            }
            Append(_end - _start);
            _start = _end = 0;
            if (_ended)
            {
                if (_line.Length == 0) return null;
                var last = _line.ToString();
                _line.Clear();
                return last;
            }
            var n = await _reader.ReadAsync(_buffer, ct).ConfigureAwait(false);
            if (n == 0) _ended = true;
            else _end = n;
        }
    }

    private void Append(int count)
    {
        if (_line.Length + count > MaxLineChars) throw new InvalidDataException($"an SSE line of more than {MaxLineChars} characters");
        _line.Append(_buffer, _start, count);
    }

    public void Dispose() => _reader.Dispose();
}
