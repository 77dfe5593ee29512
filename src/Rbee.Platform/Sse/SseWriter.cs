using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Rbee.Platform.Sse;

/// <summary>
/// Writes server-sent events to a stream (an HTTP response body): each event is formatted whole into one buffer, written
/// and flushed at once, so a frame reaches the reader the moment it is written and two writers never interleave
/// (DESIGN.md "Discovery and telemetry" 3, 7; the jobs' stream; the worker's streamed completions). Writes are
/// serialized, so a keep-alive loop (<see cref="KeepAliveAsync"/>) may run beside the event loop. The response's
/// headers are the caller's (Rbee.Hosting's <c>SseResponse</c> for the daemons, the worker's own).
/// </summary>
public sealed class SseWriter
{
    private static readonly byte[] EventPrefix = "event: "u8.ToArray();
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private readonly Stream _stream;
    private readonly JsonWriterOptions _jsonOptions;
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly SemaphoreSlim _write = new(1, 1);
    // One JSON writer for the whole stream: an event costs no writer of its own. Its options (the encoder) decide the
    // escaping, not the serializer's.
    private Utf8JsonWriter? _json;

    /// <param name="jsonOptions">How JSON events are written (e.g. the encoder); default: System.Text.Json's defaults.</param>
    public SseWriter(Stream stream, JsonWriterOptions jsonOptions = default)
    {
        _stream = stream;
        _jsonOptions = jsonOptions;
    }

    /// <summary>An event whose data is <paramref name="value"/> as JSON (one <c>data:</c> line; JSON has no raw newlines).</summary>
    public Task WriteEventAsync<T>(string? eventName, T value, JsonTypeInfo<T> typeInfo, CancellationToken ct) =>
        WriteLockedAsync(() =>
        {
            if (eventName is not null) WriteField(EventPrefix, eventName);
            _buffer.Write(DataPrefix);
            if (_json is null) _json = new Utf8JsonWriter(_buffer, _jsonOptions);
            else _json.Reset(_buffer);
            JsonSerializer.Serialize(_json, value, typeInfo);
            _json.Flush();
            _buffer.Write("\n\n"u8);
        }, ct);

    /// <summary>
    /// An event from already-serialized JSON (UTF-8, no newlines): lets one frame be serialized once and sent to
    /// every subscriber.
    /// </summary>
    public Task WriteEventAsync(string? eventName, ReadOnlyMemory<byte> utf8Json, CancellationToken ct) =>
        WriteLockedAsync(() =>
        {
            if (eventName is not null) WriteField(EventPrefix, eventName);
            WriteField(DataPrefix, utf8Json.Span);
            _buffer.Write("\n"u8);
        }, ct);

    /// <summary>A plain <c>data:</c> event (job narration, <c>[DONE]</c>); a multi-line text becomes several data lines.</summary>
    public Task WriteDataAsync(string text, CancellationToken ct, string? eventName = null) =>
        WriteLockedAsync(() =>
        {
            if (eventName is not null) WriteField(EventPrefix, eventName);
            if (text.AsSpan().IndexOfAny('\r', '\n') < 0) WriteField(DataPrefix, text);
            else
                foreach (var line in text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
                    WriteField(DataPrefix, line);
            _buffer.Write("\n"u8);
        }, ct);

    /// <summary>A comment line: readers ignore it; it keeps idle connections and proxies from timing out.</summary>
    public Task WriteCommentAsync(string text, CancellationToken ct) =>
        WriteLockedAsync(() =>
        {
            _buffer.Write(": "u8);
            Encoding.UTF8.GetBytes(text.Replace('\n', ' ').Replace('\r', ' '), _buffer);
            _buffer.Write("\n\n"u8);
        }, ct);

    /// <summary>
    /// Sends a comment every <paramref name="interval"/> until <paramref name="ct"/> is cancelled or the client is
    /// gone, so proxies and idle-connection reapers keep a quiet stream (a long job) open. Run it beside the event loop.
    /// </summary>
    public async Task KeepAliveAsync(TimeSpan interval, CancellationToken ct, TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        try
        {
            while (true)
            {
                await Task.Delay(interval, time, ct).ConfigureAwait(false);
                await WriteCommentAsync("keep-alive", ct).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The stream ended: nothing left to keep alive.
        }
    }

    // Text is encoded straight into the event buffer: the queen writes an event per hive frame per subscriber, and
    // an event name or narration line should not cost an array each time.
    private void WriteField(byte[] prefix, ReadOnlySpan<char> value)
    {
        _buffer.Write(prefix);
        Encoding.UTF8.GetBytes(value, _buffer);
        _buffer.Write("\n"u8);
    }

    private void WriteField(byte[] prefix, ReadOnlySpan<byte> value)
    {
        _buffer.Write(prefix);
        _buffer.Write(value);
        _buffer.Write("\n"u8);
    }

    private async Task WriteLockedAsync(Action fill, CancellationToken ct)
    {
        await _write.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            _buffer.ResetWrittenCount();
            fill();
            await _stream.WriteAsync(_buffer.WrittenMemory, ct).ConfigureAwait(false);
            await _stream.FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _write.Release();
        }
    }
}
