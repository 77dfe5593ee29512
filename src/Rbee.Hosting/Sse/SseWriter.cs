using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Rbee.Hosting.Sse;

/// <summary>
/// Writes server-sent events to one response: <c>text/event-stream</c>, no buffering anywhere on the way, one flush
/// per event so a frame reaches the reader the moment it is written (DESIGN.md "Discovery and telemetry" 3, 7).
/// Writes are serialized, so a keep-alive loop (<see cref="KeepAliveAsync"/>) may run beside the event loop.
/// </summary>
public sealed class SseWriter
{
    private static readonly byte[] EventPrefix = "event: "u8.ToArray();
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private readonly HttpResponse _response;
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly SemaphoreSlim _write = new(1, 1);

    private SseWriter(HttpResponse response) => _response = response;

    /// <summary>Sends the headers at once (so the client sees the stream open before the first event) and returns the writer.</summary>
    public static async Task<SseWriter> StartAsync(HttpResponse response, CancellationToken ct)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache, no-store";
        response.Headers.Connection = "keep-alive";
        // Reverse proxies (nginx) buffer responses unless told not to.
        response.Headers["X-Accel-Buffering"] = "no";
        response.HttpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.StartAsync(ct);
        await response.Body.FlushAsync(ct);
        return new SseWriter(response);
    }

    /// <summary>An event whose data is <paramref name="value"/> as JSON (one <c>data:</c> line; JSON has no raw newlines).</summary>
    public Task WriteEventAsync<T>(string? eventName, T value, JsonTypeInfo<T> typeInfo, CancellationToken ct) =>
        WriteLockedAsync(buffer =>
        {
            if (eventName is not null) WriteField(EventPrefix, eventName);
            buffer.Write(DataPrefix);
            using (var json = new Utf8JsonWriter(buffer)) JsonSerializer.Serialize(json, value, typeInfo);
            buffer.Write("\n\n"u8);
        }, ct);

    /// <summary>
    /// An event from already-serialized JSON (UTF-8, no newlines): lets one frame be serialized once and sent to
    /// every subscriber.
    /// </summary>
    public Task WriteEventAsync(string? eventName, ReadOnlyMemory<byte> utf8Json, CancellationToken ct) =>
        WriteLockedAsync(buffer =>
        {
            if (eventName is not null) WriteField(EventPrefix, eventName);
            WriteField(DataPrefix, utf8Json.Span);
            buffer.Write("\n"u8);
        }, ct);

    /// <summary>A plain <c>data:</c> event (job narration, <c>[DONE]</c>); a multi-line text becomes several data lines.</summary>
    public Task WriteDataAsync(string text, CancellationToken ct, string? eventName = null) =>
        WriteLockedAsync(buffer =>
        {
            if (eventName is not null) WriteField(EventPrefix, eventName);
            foreach (var line in text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
                WriteField(DataPrefix, line);
            buffer.Write("\n"u8);
        }, ct);

    /// <summary>A comment line: readers ignore it; it keeps idle connections and proxies from timing out.</summary>
    public Task WriteCommentAsync(string text, CancellationToken ct) =>
        WriteLockedAsync(buffer =>
        {
            buffer.Write(": "u8);
            Encoding.UTF8.GetBytes(text.Replace('\n', ' ').Replace('\r', ' '), buffer);
            buffer.Write("\n\n"u8);
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
                await Task.Delay(interval, time, ct);
                await WriteCommentAsync("keep-alive", ct);
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

    private async Task WriteLockedAsync(Action<ArrayBufferWriter<byte>> fill, CancellationToken ct)
    {
        await _write.WaitAsync(ct);
        try
        {
            _buffer.Clear();
            fill(_buffer);
            await _response.Body.WriteAsync(_buffer.WrittenMemory, ct);
            await _response.Body.FlushAsync(ct);
        }
        finally
        {
            _write.Release();
        }
    }
}
