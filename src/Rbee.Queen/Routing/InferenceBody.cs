using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;

namespace Rbee.Queen.Routing;

/// <summary>A request the queen refuses before it is routed: bad JSON, no model, a body over the limit.</summary>
public sealed class BadInferenceRequest(int status, string code, string message, string? param = null) : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public string? Param { get; } = param;
}

/// <summary>
/// An inference request's body, read once into a pooled buffer: the queen must read <c>model</c> to route it and must be
/// able to send the same bytes again when a worker fails before answering, so the body is held (at most
/// <see cref="ApiOptions.MaxRequestBodyBytes"/>) instead of streamed through. The bytes sent to the worker are exactly
/// the client's. Dispose returns the buffer to the pool.
/// </summary>
public sealed class InferenceBody : IDisposable
{
    private byte[]? _buffer;

    private InferenceBody(byte[] buffer, int length, string model, bool stream)
    {
        _buffer = buffer;
        Length = length;
        Model = model;
        Stream = stream;
    }

    public string Model { get; }

    /// <summary>The request asked for a streamed (SSE) answer.</summary>
    public bool Stream { get; }

    public int Length { get; }

    public ReadOnlyMemory<byte> Bytes => (_buffer ?? throw new ObjectDisposedException(nameof(InferenceBody))).AsMemory(0, Length);

    /// <summary>Reads and checks the body; throws <see cref="BadInferenceRequest"/> with the status to answer.</summary>
    public static async Task<InferenceBody> ReadAsync(HttpRequest request, long maxBytes, CancellationToken ct)
    {
        // Kestrel's server-wide limit is the control plane's; inference bodies get their own, raised before reading.
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = maxBytes;
        if (request.ContentLength is { } declared && declared > maxBytes) throw TooLarge(maxBytes);

        var buffer = ArrayPool<byte>.Shared.Rent(request.ContentLength is { } n and > 0 ? (int)n : 16 * 1024);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length >= maxBytes) throw TooLarge(maxBytes);
                    var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min(maxBytes + 1, (long)buffer.Length * 2));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                int read;
                try
                {
                    read = await request.Body.ReadAsync(buffer.AsMemory(length), ct).ConfigureAwait(false);
                }
                catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
                {
                    throw TooLarge(maxBytes);
                }
                if (read == 0) break;
                length += read;
                if (length > maxBytes) throw TooLarge(maxBytes);
            }
            var (model, stream) = Parse(buffer.AsSpan(0, length));
            var body = new InferenceBody(buffer, length, model, stream);
            buffer = null;
            return body;
        }
        finally
        {
            if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Validates the whole document and reads the two top-level fields routing needs, without building a DOM:
    /// <c>model</c> (a non-empty string) and <c>stream</c> (a boolean when present).
    /// </summary>
    public static (string Model, bool Stream) Parse(ReadOnlySpan<byte> json)
    {
        if (json.IsEmpty) throw new BadInferenceRequest(StatusCodes.Status400BadRequest, "invalid_json", "the request body is empty; send a JSON object");
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
        string? model = null;
        var stream = false;
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new BadInferenceRequest(StatusCodes.Status400BadRequest, "invalid_json", "the request body must be a JSON object");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("model"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String)
                        throw new BadInferenceRequest(StatusCodes.Status400BadRequest, "invalid_type", "'model' must be a string", "model");
                    if (!JsonText.TryGetString(ref reader, out model))
                        throw new BadInferenceRequest(StatusCodes.Status400BadRequest, "invalid_encoding", $"'model' {JsonText.NotText}", "model");
                }
                else if (reader.ValueTextEquals("stream"u8))
                {
                    reader.Read();
                    stream = reader.TokenType switch
                    {
                        JsonTokenType.True => true,
                        JsonTokenType.False or JsonTokenType.Null => false,
                        _ => throw new BadInferenceRequest(StatusCodes.Status400BadRequest, "invalid_type", "'stream' must be true or false", "stream"),
                    };
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
            // Anything after the object (a second value, garbage) is not JSON.
            if (reader.Read()) throw new JsonException("unexpected data after the JSON object");
        }
        catch (JsonException e)
        {
            throw new BadInferenceRequest(StatusCodes.Status400BadRequest, "invalid_json", $"the request body is not valid JSON: {e.Message}");
        }
        if (string.IsNullOrWhiteSpace(model))
            throw new BadInferenceRequest(StatusCodes.Status400BadRequest, "missing_model",
                "you must provide a model parameter (GET /v1/models lists the models of this cluster)", "model");
        return (model, stream);
    }

    /// <summary>
    /// The request with the value of its top-level <c>model</c> replaced by <paramref name="model"/> and every other byte as
    /// the client sent it: for a request served by another name of its model (<c>tiny</c> by <c>tiny:latest</c>, an alias
    /// by the file pulled from its source), since a worker answers only to its own id. The one case where the worker's
    /// bytes are not exactly the client's. Like <see cref="Parse"/>, the last <c>model</c> counts. The body was validated
    /// by <see cref="Parse"/>.
    /// </summary>
    public static byte[] WithModel(ReadOnlyMemory<byte> json, string model)
    {
        var span = json.Span;
        var reader = new Utf8JsonReader(span, new JsonReaderOptions { MaxDepth = 64 });
        (int Start, int End)? value = null;
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isModel = reader.ValueTextEquals("model"u8);
            reader.Read();
            if (isModel) value = ((int)reader.TokenStartIndex, (int)reader.BytesConsumed);
            else reader.Skip();
        }
        if (value is not { } v) throw new InvalidOperationException("the request has no model to replace");
        var encoded = JsonEncodedText.Encode(model).EncodedUtf8Bytes;
        var result = new byte[v.Start + encoded.Length + 2 + (span.Length - v.End)];
        span[..v.Start].CopyTo(result);
        result[v.Start] = (byte)'"';
        encoded.CopyTo(result.AsSpan(v.Start + 1));
        result[v.Start + 1 + encoded.Length] = (byte)'"';
        span[v.End..].CopyTo(result.AsSpan(v.Start + encoded.Length + 2));
        return result;
    }

    private static BadInferenceRequest TooLarge(long maxBytes) => new(StatusCodes.Status413PayloadTooLarge, "payload_too_large",
        $"the request body is larger than {maxBytes} bytes (Api:MaxRequestBodyBytes)");

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _buffer, null) is { } b) ArrayPool<byte>.Shared.Return(b);
    }
}
