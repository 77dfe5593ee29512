using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;

namespace Rbee.Worker.Serving;

// OpenAI's response shapes (https://platform.openai.com/docs/api-reference), plus llama.cpp server's
// `timings` object, which clients such as llama.cpp's web UI and benchmarks read.

public sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens);

public sealed record Timings(
    int PromptN, double PromptMs, double? PromptPerTokenMs, double? PromptPerSecond,
    int PredictedN, double PredictedMs, double? PredictedPerTokenMs, double? PredictedPerSecond)
{
    public static Timings From(GenerationTimings t) => new(
        t.PromptN, Math.Round(t.PromptMs, 3), t.PromptN > 0 ? t.PromptMs / t.PromptN : null, t.PromptPerSecond,
        t.PredictedN, Math.Round(t.PredictedMs, 3), t.PredictedN > 0 ? t.PredictedMs / t.PredictedN : null, t.PredictedPerSecond);
}

public sealed record CompletionChoice(
    string Text, int Index,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

public sealed record CompletionResponse(
    string Id, string Object, long Created, string Model, IReadOnlyList<CompletionChoice> Choices,
    Usage? Usage, Timings? Timings, string SystemFingerprint);

public sealed record ChatMessageOut(string Role, string Content);

public sealed record ChatChoice(
    int Index, ChatMessageOut Message,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

public sealed record ChatCompletionResponse(
    string Id, string Object, long Created, string Model, IReadOnlyList<ChatChoice> Choices,
    Usage Usage, Timings Timings, string SystemFingerprint);

public sealed record ChatDelta(string? Role, string? Content);

public sealed record ChatChunkChoice(
    int Index, ChatDelta Delta,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

public sealed record ChatCompletionChunk(
    string Id, string Object, long Created, string Model, IReadOnlyList<ChatChunkChoice> Choices,
    Usage? Usage, Timings? Timings, string SystemFingerprint);

public sealed record ModelMeta(
    int ContextLength, int TrainedContextLength, int VocabSize, int Parallel, string ChatFormat, string Path);

public sealed record ModelEntry(string Id, string Object, long Created, string OwnedBy, ModelMeta Meta);

public sealed record ModelList(string Object, IReadOnlyList<ModelEntry> Data);

public sealed record HealthStatus(string Status);

/// <summary>The ready line of the launch contract; every field is present (worker_id null when not given).</summary>
public sealed record ReadyEvent(
    string Event, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? WorkerId, int Port, string Model, int Pid);

/// <summary>The worker's own wire types, snake_case like every rbee contract; nulls are left out, except where a
/// property says otherwise (finish_reason is an explicit null in OpenAI's stream chunks). Errors use
/// <c>RbeeJsonContext</c>, whose <c>param: null</c> stays in, as OpenAI's shape has it.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CompletionResponse))]
[JsonSerializable(typeof(ChatCompletionResponse))]
[JsonSerializable(typeof(ChatCompletionChunk))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(HealthStatus))]
[JsonSerializable(typeof(ReadyEvent))]
public sealed partial class WorkerJsonContext : JsonSerializerContext;

/// <summary>
/// The serializers the worker answers with. Its bodies are JSON (<c>application/json</c>, <c>text/event-stream</c>),
/// never embedded in HTML, so the HTML-safe default encoder only obscures them: an apostrophe in an error message
/// came out as <c>\u0027</c> and every non-ASCII character of generated text as <c>\uXXXX</c>. The relaxed encoder
/// still escapes what JSON requires (quotes, backslashes, control characters, lone surrogates).
/// </summary>
public static class WorkerJson
{
    public static WorkerJsonContext Context { get; } =
        new(new JsonSerializerOptions(WorkerJsonContext.Default.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    /// <summary>OpenAI's error shape, from the shared contract's context (it keeps <c>param: null</c>).</summary>
    public static JsonTypeInfo<ErrorResponse> Error { get; } =
        new RbeeJsonContext(new JsonSerializerOptions(RbeeJsonContext.Default.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping })
            .ErrorResponse;
}
