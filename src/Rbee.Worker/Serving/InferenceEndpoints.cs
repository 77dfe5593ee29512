using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Platform.Sse;

namespace Rbee.Worker.Serving;

/// <summary>
/// The worker's OpenAI surface: <c>/health</c>, <c>/v1/models</c>, <c>/v1/completions</c>,
/// <c>/v1/chat/completions</c> (issue 5). Requests are checked and tokenized before they queue, so a bad or
/// too-long prompt is refused at once and never holds a slot.
/// </summary>
public sealed class InferenceEndpoints(
    WorkerState state, WorkerMetrics metrics, IHostApplicationLifetime lifetime, ILogger<InferenceEndpoints> logger)
{
    private static readonly string Fingerprint = "rbee-" + ProtocolConstants.Version;

    public static void Map(WebApplication app)
    {
        var e = app.Services.GetRequiredService<InferenceEndpoints>();
        app.UseWorkerErrorShape();
        app.MapGet("/health", e.Health);
        app.MapGet("/v1/models", e.Models);
        app.MapPost("/v1/completions", ctx => e.HandleAsync(ctx, EndpointKind.Completion));
        app.MapPost("/v1/chat/completions", ctx => e.HandleAsync(ctx, EndpointKind.Chat));
    }

    private Task Health(HttpContext ctx) => state.IsReady
        ? WriteJson(ctx, StatusCodes.Status200OK, new HealthStatus("ok"), WorkerJson.Context.HealthStatus)
        : WriteJson(ctx, StatusCodes.Status503ServiceUnavailable, new HealthStatus("loading"), WorkerJson.Context.HealthStatus);

    private Task Models(HttpContext ctx)
    {
        if (state.Loaded is not { } w) return WriteError(ctx, Loading());
        var o = state.Options;
        var entry = new ModelEntry(o.ModelId, "model", StartedAt, "rbee",
            new ModelMeta(w.ContextSize, w.Model.TrainedContextLength, w.Model.VocabSize, w.Pool.Total, w.Model.ChatFormat,
                Path.GetFullPath(o.ModelPath)));
        return WriteJson(ctx, StatusCodes.Status200OK, new ModelList("list", [entry]), WorkerJson.Context.ModelList);
    }

    private static readonly long StartedAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    private async Task HandleAsync(HttpContext ctx, EndpointKind kind)
    {
        var endpoint = kind == EndpointKind.Chat ? "chat" : "completion";
        var requestId = (kind == EndpointKind.Chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N")[..24];
        var clock = Stopwatch.StartNew();
        var streamedChunks = 0;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, lifetime.ApplicationStopping);
        var ct = cts.Token;
        // Released after the outcome is counted and logged, so whoever gets the slot next sees up-to-date metrics.
        SlotLease? lease = null;
        StreamWriterState? stream = null;
        InferenceLoop.Arrival? arrival = null;
        try
        {
            if (state.Loaded is not { } worker) throw Loading();
            var body = await ReadBodyAsync(ctx, ct);
            // From here to the queue is this worker's own work, never a wait on the client: an idle loop waits for it.
            arrival = worker.Loop.Announce();
            var request = OpenAiRequest.Parse(body, kind);
            if (!string.IsNullOrEmpty(request.Model) && request.Model != state.Options.ModelId)
                throw new RequestException(StatusCodes.Status404NotFound,
                    $"The model '{request.Model}' does not exist; this worker serves '{state.Options.ModelId}'",
                    "model_not_found", "model", ErrorTypes.NotFound);
            var prompt = Tokenize(worker, request);
            if (prompt.Length >= worker.ContextSize)
                throw new RequestException(StatusCodes.Status400BadRequest,
                    $"The prompt is {prompt.Length} tokens; this worker's context is {worker.ContextSize} tokens and needs room for at least one generated token",
                    "context_length_exceeded", kind == EndpointKind.Chat ? "messages" : "prompt");

            var generation = new GenerationRequest
            {
                PromptTokens = prompt,
                Sampling = request.Sampling,
                MaxTokens = request.MaxTokens,
                Stop = request.Stop,
                IgnoreEos = request.IgnoreEos,
            };

            try
            {
                var acquiring = worker.Pool.AcquireAsync(prompt, ct);
                // Queued for a slot: not on its way to the loop until one frees, which the loop's own work decides.
                if (!acquiring.IsCompleted) arrival.Dispose();
                lease = await acquiring;
            }
            catch (QueueFullException ex)
            {
                ctx.Response.Headers.RetryAfter = state.Options.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                throw new RequestException(StatusCodes.Status503ServiceUnavailable, ex.Message, "queue_full", null, ErrorTypes.Unavailable);
            }

            GenerationResult result;
            var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            if (request.Stream)
            {
                stream = new StreamWriterState(ctx, requestId, created, state.Options.ModelId, kind);
                await stream.StartAsync(ct);
                result = await worker.Loop.RunAsync(lease.Slot, generation, (text, c) =>
                {
                    streamedChunks++;
                    return stream.TextAsync(text, c);
                }, ct, arrival);
                await stream.FinishAsync(result, request.IncludeUsage, ct);
            }
            else
            {
                result = await worker.Loop.RunAsync(lease.Slot, generation, null, ct, arrival);
                await WriteResultAsync(ctx, kind, requestId, created, result);
            }
            metrics.Finished(result.Timings);
            metrics.Request(StatusCodes.Status200OK);
            WorkerLog.RequestDone(logger, requestId, endpoint, 200, result.PromptTokens, result.Timings.PromptN,
                result.CompletionTokens, clock.Elapsed.TotalMilliseconds, result.Timings.PredictedPerSecond,
                FinishName(result.FinishReason));
        }
        catch (RequestException ex)
        {
            metrics.Request(ex.Status);
            WorkerLog.RequestRefused(logger, requestId, endpoint, ex.Status, ex.Code, ex.Message);
            if (!ctx.Response.HasStarted) await WriteError(ctx, ex);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // 499 is nginx's "client closed request": only for the metrics and log, the client is gone.
            var clientGone = ctx.RequestAborted.IsCancellationRequested;
            metrics.Request(clientGone ? 499 : StatusCodes.Status503ServiceUnavailable);
            WorkerLog.RequestCancelled(logger, requestId, endpoint, streamedChunks,
                clientGone ? "client disconnected" : "worker stopping");
            // The worker is stopping but the client still listens: an error it can retry elsewhere, not an empty 200.
            if (!clientGone && !ctx.Response.HasStarted)
                await WriteError(ctx, new RequestException(StatusCodes.Status503ServiceUnavailable,
                    "The worker is stopping", "worker_stopping", null, ErrorTypes.Unavailable));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            metrics.Request(StatusCodes.Status500InternalServerError);
            WorkerLog.RequestFailed(logger, ex, requestId, endpoint);
            var error = new RequestException(StatusCodes.Status500InternalServerError,
                "The worker failed while generating", "internal_error", null, ErrorTypes.Server);
            if (!ctx.Response.HasStarted) await WriteError(ctx, error);
            else if (stream is not null) await stream.ErrorAsync(error);
        }
        finally
        {
            arrival?.Dispose();
            lease?.Dispose();
        }
    }

    private static async Task<JsonElement> ReadBodyAsync(HttpContext ctx, CancellationToken ct)
    {
        try
        {
            using var doc = await JsonDocument.ParseAsync(ctx.Request.Body, default, ct);
            return doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new RequestException(StatusCodes.Status400BadRequest, $"The request body is not valid JSON: {ex.Message}", "invalid_json");
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new RequestException(StatusCodes.Status413PayloadTooLarge,
                "The request body is larger than this worker accepts", "request_too_large");
        }
    }

    private static int[] Tokenize(LoadedWorker worker, OpenAiRequest request)
    {
        var model = worker.Model;
        if (request.Kind == EndpointKind.Completion)
        {
            var p = request.Prompt!;
            if (p.Tokens is { } ids)
            {
                foreach (var id in ids)
                    if (id >= model.VocabSize)
                        throw RequestException.Invalid($"token id {id} is outside the vocabulary (size {model.VocabSize})", "prompt");
                return ids;
            }
            var tokens = model.Tokenize(p.Text!, addSpecial: true, parseSpecial: true);
            if (tokens.Length == 0) throw RequestException.Invalid("'prompt' is empty", "prompt");
            return tokens;
        }
        string rendered;
        try
        {
            rendered = model.RenderChat(request.Messages!);
        }
        catch (ChatFormatException ex)
        {
            throw RequestException.Invalid($"The chat template rejected the messages: {ex.Message}", "messages", "invalid_chat_template");
        }
        var chat = model.Tokenize(rendered, addSpecial: !model.RenderedChatHasBos(rendered), parseSpecial: true);
        if (chat.Length == 0) throw RequestException.Invalid("the messages render to an empty prompt", "messages");
        return chat;
    }

    private Task WriteResultAsync(HttpContext ctx, EndpointKind kind, string id, long created, GenerationResult r)
    {
        var usage = new Usage(r.PromptTokens, r.CompletionTokens, r.PromptTokens + r.CompletionTokens);
        var timings = Timings.From(r.Timings);
        var finish = FinishName(r.FinishReason);
        var model = state.Options.ModelId;
        return kind == EndpointKind.Chat
            ? WriteJson(ctx, 200, new ChatCompletionResponse(id, "chat.completion", created, model,
                [new ChatChoice(0, new ChatMessageOut("assistant", r.Text), finish)], usage, timings, Fingerprint),
                WorkerJson.Context.ChatCompletionResponse)
            : WriteJson(ctx, 200, new CompletionResponse(id, "text_completion", created, model,
                [new CompletionChoice(r.Text, 0, finish)], usage, timings, Fingerprint),
                WorkerJson.Context.CompletionResponse);
    }

    internal static string FinishName(FinishReason f) => f == FinishReason.Stop ? "stop" : "length";

    private static RequestException Loading() => new(StatusCodes.Status503ServiceUnavailable,
        "The model is still loading", "model_loading", null, ErrorTypes.Unavailable);

    private static Task WriteError(HttpContext ctx, RequestException ex) =>
        WriteJson(ctx, ex.Status, ex.ToError(), WorkerJson.Error);

    private static async Task WriteJson<T>(HttpContext ctx, int status, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(ctx.Response.Body, value, type);
    }

    /// <summary>Server-sent events of one streamed response: <c>data: {chunk}</c> frames, flushed one by one,
    /// and <c>data: [DONE]</c> at the end, written by the SSE writer every rbee stream uses.</summary>
    private sealed class StreamWriterState(HttpContext ctx, string id, long created, string model, EndpointKind kind)
    {
        // The writer's encoder, not the serializer's, decides the escaping: the worker's (model text as it is).
        private readonly SseWriter _sse = new(ctx.Response.Body, new JsonWriterOptions { Encoder = WorkerJson.Context.Options.Encoder });

        public async Task StartAsync(CancellationToken ct)
        {
            ctx.Response.StatusCode = 200;
            ctx.Response.ContentType = "text/event-stream";
            ctx.Response.Headers.CacheControl = "no-cache";
            ctx.Response.Headers["X-Accel-Buffering"] = "no";
            await ctx.Response.StartAsync(ct);
            if (kind == EndpointKind.Chat)
                await ChunkAsync(new ChatDelta("assistant", null), null, null, null, ct);
        }

        public ValueTask TextAsync(string text, CancellationToken ct) => kind == EndpointKind.Chat
            ? new ValueTask(ChunkAsync(new ChatDelta(null, text), null, null, null, ct))
            : new ValueTask(CompletionChunkAsync(text, null, null, null, ct));

        public async Task FinishAsync(GenerationResult r, bool includeUsage, CancellationToken ct)
        {
            var finish = FinishName(r.FinishReason);
            var timings = Timings.From(r.Timings);
            var usage = new Usage(r.PromptTokens, r.CompletionTokens, r.PromptTokens + r.CompletionTokens);
            if (kind == EndpointKind.Chat)
            {
                await ChunkAsync(new ChatDelta(null, null), finish, null, timings, ct);
                // OpenAI's include_usage: one more chunk, with no choices and the usage.
                if (includeUsage) await WriteFrameAsync(new ChatCompletionChunk(id, "chat.completion.chunk", created, model, [], usage, timings, Fingerprint), ct);
            }
            else
            {
                await CompletionChunkAsync("", finish, null, timings, ct);
                if (includeUsage) await WriteFrameAsync(new CompletionResponse(id, "text_completion", created, model, [], usage, timings, Fingerprint), ct);
            }
            await _sse.WriteDataAsync("[DONE]", ct);
        }

        /// <summary>A failure after the stream began: one <c>data: {"error":…}</c> frame and no <c>[DONE]</c>, as
        /// OpenAI does, so the client learns why the text stopped. A client already gone is not an error.</summary>
        public async Task ErrorAsync(RequestException ex)
        {
            try
            {
                await _sse.WriteEventAsync(null, ex.ToError(), WorkerJson.Error, ctx.RequestAborted);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException)
            {
            }
        }

        private Task ChunkAsync(ChatDelta delta, string? finish, Usage? usage, Timings? timings, CancellationToken ct) =>
            WriteFrameAsync(new ChatCompletionChunk(id, "chat.completion.chunk", created, model,
                [new ChatChunkChoice(0, delta, finish)], usage, timings, Fingerprint), ct);

        private Task CompletionChunkAsync(string text, string? finish, Usage? usage, Timings? timings, CancellationToken ct) =>
            WriteFrameAsync(new CompletionResponse(id, "text_completion", created, model,
                [new CompletionChoice(text, 0, finish)], usage, timings, Fingerprint), ct);

        private Task WriteFrameAsync(ChatCompletionChunk chunk, CancellationToken ct) =>
            _sse.WriteEventAsync(null, chunk, WorkerJson.Context.ChatCompletionChunk, ct);

        private Task WriteFrameAsync(CompletionResponse chunk, CancellationToken ct) =>
            _sse.WriteEventAsync(null, chunk, WorkerJson.Context.CompletionResponse, ct);
    }
}
