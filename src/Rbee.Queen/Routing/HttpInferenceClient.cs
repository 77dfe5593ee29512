using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Queen.Scheduling;

namespace Rbee.Queen.Routing;

/// <summary>
/// An HTTP client of the queen's OpenAI endpoints: its request goes to the worker byte for byte, the worker's response
/// comes back unbuffered (status and end-to-end headers, then each chunk as the worker writes it, SSE frames included).
/// A streamed request that waited long enough already has its 200 and SSE headers, so progress reaches it as comments
/// and any later failure becomes an OpenAI error frame (<c>data: {"error":…}</c>) instead of a status.
/// </summary>
public sealed class HttpInferenceClient(HttpContext context, InferenceBody body, WorkerForwarder forwarder, string requestId) : IInferenceClient
{
    private const int ChunkSize = 16 * 1024;
    private bool _streamStarted;

    public bool Streaming => body.Stream;

    public async ValueTask WaitingLongAsync(CancellationToken ct)
    {
        if (_streamStarted || context.Response.HasStarted) return;
        _streamStarted = true;
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.StartAsync(ct).ConfigureAwait(false);
    }

    public async ValueTask ProgressAsync(string line, CancellationToken ct)
    {
        if (!_streamStarted) return;
        // An SSE comment: official clients skip it, a person watching with curl sees what the wait is for.
        var text = ": " + line.Replace('\n', ' ').Replace('\r', ' ') + "\n\n";
        await context.Response.BodyWriter.WriteAsync(Encoding.UTF8.GetBytes(text), ct).ConfigureAwait(false);
    }

    public Task<HttpResponseMessage> SendAsync(WorkerLease lease, CancellationToken ct) =>
        forwarder.SendAsync(lease.Url, context.Request, BytesFor(lease.Model), requestId, ct, forwarder.KeyOf(lease));

    private (string Model, byte[] Bytes)? _renamed;

    /// <summary>The client's bytes, unless the scheduler served the request by another name of its model (<c>tiny</c> by
    /// <c>tiny:latest</c>, an alias): a worker answers only to its own id.</summary>
    private ReadOnlyMemory<byte> BytesFor(string model)
    {
        if (model == body.Model) return body.Bytes;
        if (_renamed is not { } r || r.Model != model) _renamed = r = (model, InferenceBody.WithModel(body.Bytes, model));
        return r.Bytes;
    }

    public async ValueTask<Delivery> DeliverAsync(HttpResponseMessage upstream, WorkerLease lease, RequestTimeline timeline, WorkerDeadline deadline)
    {
        var ct = deadline.ClientToken;
        var status = (int)upstream.StatusCode;
        if (_streamStarted && status >= 300)
        {
            // The stream has begun with 200; the worker's refusal (a 4xx) travels as an error frame.
            string text;
            try { text = await InferencePipeline.ReadBoundedAsync(upstream, 64 * 1024, deadline.Token).ConfigureAwait(false); }
            catch (Exception e) when (IsWorkerFault(e, deadline)) { return new Delivery(DeliveryOutcome.FailedBeforeFirstByte, Why(e, deadline)); }
            timeline.FirstByte();
            await ErrorFrameAsync(WorkerError(text, status), ct).ConfigureAwait(false);
            return Delivery.Ok;
        }

        Stream source;
        try
        {
            source = await upstream.Content.ReadAsStreamAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (IsWorkerFault(e, deadline))
        {
            return new Delivery(DeliveryOutcome.FailedBeforeFirstByte, Why(e, deadline));
        }

        var sse = _streamStarted || body.Stream || upstream.Content.Headers.ContentType?.MediaType == "text/event-stream";
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            int n;
            try
            {
                n = await source.ReadAsync(buffer.AsMemory(0, ChunkSize), deadline.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (IsWorkerFault(e, deadline))
            {
                // Nothing of this answer has left the queen: the caller may try another worker.
                return new Delivery(DeliveryOutcome.FailedBeforeFirstByte, Why(e, deadline));
            }
            timeline.FirstByte();
            var response = context.Response;
            if (!_streamStarted)
            {
                WorkerForwarder.CopyResponseHead(upstream, response);
                response.Headers["X-Request-Id"] = requestId;
                response.Headers["X-Rbee-Hive"] = lease.HiveId;
                response.Headers["X-Rbee-Worker"] = lease.Url;
                if (sse) context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            }
            var writer = response.BodyWriter;
            var end = new StreamEnd();
            while (n > 0)
            {
                if (sse) end.Saw(buffer.AsSpan(0, n));
                // One write and flush per chunk the worker sent: each SSE frame leaves as soon as it arrives.
                var flushed = await writer.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                if (flushed.IsCanceled || flushed.IsCompleted) return new Delivery(DeliveryOutcome.ClientGone);
                deadline.Extend();
                try
                {
                    n = await source.ReadAsync(buffer.AsMemory(0, ChunkSize), deadline.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (IsWorkerFault(e, deadline))
                {
                    var why = Why(e, deadline);
                    if (sse) await ErrorFrameAsync(ErrorResponse.Of($"the worker failed mid-answer: {why}", ErrorTypes.Server, "worker_failed"), ct)
                        .ConfigureAwait(false);
                    // A JSON answer cut short cannot be mended: end the connection so the client sees a failure, not a
                    // short body it might take for whole.
                    else context.Abort();
                    return new Delivery(DeliveryOutcome.FailedAfterFirstByte, why);
                }
            }
            if (sse && EndsWithDone && !end.Done)
            {
                // A worker that is stopped (SIGTERM ends its requests) or dies between two frames closes the stream
                // cleanly but without [DONE]: the answer is cut, and the client must be told so, never left to take it
                // for whole.
                const string why = "the worker ended the stream before the answer was complete (it was stopped or crashed)";
                await ErrorFrameAsync(ErrorResponse.Of(why, ErrorTypes.Server, "worker_failed"), ct).ConfigureAwait(false);
                return new Delivery(DeliveryOutcome.FailedAfterFirstByte, why);
            }
            if (!response.HasStarted) await response.StartAsync(ct).ConfigureAwait(false);
            return Delivery.Ok;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            await source.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>OpenAI's streamed completions end with <c>data: [DONE]</c> (other endpoints' streams, such as the Responses
    /// API's, end otherwise and pass through as they are).</summary>
    private bool EndsWithDone => body.Stream && context.Request.Path.Value is { } path
        && (path.EndsWith("/chat/completions", StringComparison.Ordinal) || path.EndsWith("/v1/completions", StringComparison.Ordinal));

    /// <summary>Whether an SSE stream's last frame so far is <c>data: [DONE]</c>: the last bytes seen, across chunks.</summary>
    internal struct StreamEnd
    {
        private static ReadOnlySpan<byte> Marker => "data: [DONE]"u8;
        private const int Keep = 32;
        private byte[]? _tail;
        private int _length;

        public void Saw(ReadOnlySpan<byte> chunk)
        {
            _tail ??= new byte[Keep];
            if (chunk.Length >= Keep)
            {
                chunk[^Keep..].CopyTo(_tail);
                _length = Keep;
                return;
            }
            var keepOld = Math.Min(_length, Keep - chunk.Length);
            _tail.AsSpan(_length - keepOld, keepOld).CopyTo(_tail);
            chunk.CopyTo(_tail.AsSpan(keepOld));
            _length = keepOld + chunk.Length;
        }

        public readonly bool Done => _tail is not null && _tail.AsSpan(0, _length).TrimEnd("\r\n "u8).EndsWith(Marker);
    }

    /// <summary>The worker broke the connection, or sent nothing for the idle timeout, while the client is still there.</summary>
    internal static bool IsWorkerFault(Exception e, WorkerDeadline deadline) =>
        !deadline.ClientToken.IsCancellationRequested && (e is HttpRequestException or IOException || (e is OperationCanceledException && deadline.Expired));

    internal static string Why(Exception e, WorkerDeadline deadline) =>
        deadline.AbandonedBecause ?? (e is OperationCanceledException ? $"the worker sent nothing for {deadline.Idle.TotalSeconds:0.#} s" : e.Message);

    public async ValueTask FailAsync(int status, ErrorResponse error, int? retryAfterSeconds, CancellationToken ct)
    {
        if (_streamStarted)
        {
            await ErrorFrameAsync(error, ct).ConfigureAwait(false);
            return;
        }
        if (context.Response.HasStarted)
        {
            context.Abort();
            return;
        }
        var response = context.Response;
        response.StatusCode = status;
        response.Headers["X-Request-Id"] = requestId;
        if (retryAfterSeconds is { } s) response.Headers.RetryAfter = s.ToString(CultureInfo.InvariantCulture);
        await response.WriteAsJsonAsync(error, RbeeJsonContext.Default.ErrorResponse, contentType: "application/json", ct).ConfigureAwait(false);
    }

    /// <summary><c>data: {"error":{…}}</c>, the frame OpenAI's clients raise as an error, then the stream ends.</summary>
    private async ValueTask ErrorFrameAsync(ErrorResponse error, CancellationToken ct)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(error, RbeeJsonContext.Default.ErrorResponse);
        var frame = new byte[6 + json.Length + 2];
        "data: "u8.CopyTo(frame);
        json.CopyTo(frame.AsSpan(6));
        "\n\n"u8.CopyTo(frame.AsSpan(6 + json.Length));
        try
        {
            await context.Response.BodyWriter.WriteAsync(frame, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            // The client is gone too.
        }
    }

    /// <summary>The worker's error body as it sent it when it is OpenAI-shaped, else wrapped in that shape.</summary>
    private static ErrorResponse WorkerError(string text, int status)
    {
        try
        {
            if (JsonSerializer.Deserialize(text, RbeeJsonContext.Default.ErrorResponse) is { Error: not null } e) return e;
        }
        catch (JsonException)
        {
        }
        return ErrorResponse.Of($"the worker answered {status}: {text}", status >= 500 ? ErrorTypes.Server : ErrorTypes.InvalidRequest, "worker_error");
    }
}
