using System.Text;

namespace Rbee.Queen.Telemetry;

/// <summary>Reads server-sent events (<c>event:</c> name and joined <c>data:</c> lines) from a hive's stream.</summary>
internal sealed class SseLineReader(Stream stream) : IDisposable
{
    private readonly StreamReader _reader = new(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 16 * 1024);
    private readonly StringBuilder _data = new();

    /// <summary>The next event, or null when the stream ended.</summary>
    public async ValueTask<(string Event, string Data)?> NextAsync(CancellationToken ct)
    {
        string? name = null;
        _data.Clear();
        while (true)
        {
            var line = await _reader.ReadLineAsync(ct);
            if (line is null) return null;
            if (line.Length == 0)
            {
                if (_data.Length > 0 || name is not null) return (name ?? "message", _data.ToString());
                continue;
            }
            if (line[0] == ':') continue;
            var colon = line.IndexOf(':');
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' ')) value = value[1..];
            if (field == "event") name = value;
            else if (field == "data")
            {
                if (_data.Length > 0) _data.Append('\n');
                _data.Append(value);
            }
        }
    }

    public void Dispose() => _reader.Dispose();
}
