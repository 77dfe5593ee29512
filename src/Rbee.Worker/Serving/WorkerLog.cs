using Microsoft.Extensions.Logging;

namespace Rbee.Worker.Serving;

/// <summary>Every message the worker logs, declared once (STYLE.md §4). Event ids are stable.</summary>
internal static partial class WorkerLog
{
    [LoggerMessage(1, LogLevel.Information, "Loading model {Path} as '{ModelId}'")]
    public static partial void LoadingModel(ILogger logger, string path, string modelId);

    [LoggerMessage(2, LogLevel.Information, "Model loaded in {Ms:F0} ms: context {Context} per slot (trained {Trained}), vocab {Vocab}, {Parallel} slot(s), chat format {ChatFormat}")]
    public static partial void ModelLoaded(ILogger logger, double ms, int context, int trained, int vocab, int parallel, string chatFormat);

    [LoggerMessage(3, LogLevel.Critical, "Model {Path} could not be loaded: {Reason}")]
    public static partial void ModelLoadFailed(ILogger logger, string path, string reason);

    [LoggerMessage(4, LogLevel.Information, "Ready on port {Port}; ready file {ReadyFile}")]
    public static partial void Ready(ILogger logger, int port, string readyFile);

    [LoggerMessage(5, LogLevel.Information, "Request {RequestId} {Endpoint} {Status}: prompt {PromptTokens} tokens ({PromptEvaluated} evaluated), completion {CompletionTokens} tokens, {Ms:F0} ms, {TokensPerSecond:F1} tok/s, finish {Finish}")]
    public static partial void RequestDone(ILogger logger, string requestId, string endpoint, int status, int promptTokens,
        int promptEvaluated, int completionTokens, double ms, double? tokensPerSecond, string finish);

    [LoggerMessage(6, LogLevel.Information, "Request {RequestId} {Endpoint} refused with {Status} ({Code}): {Message}")]
    public static partial void RequestRefused(ILogger logger, string requestId, string endpoint, int status, string code, string message);

    [LoggerMessage(7, LogLevel.Information, "Request {RequestId} {Endpoint} cancelled after {StreamedChunks} streamed chunks: {Reason}")]
    public static partial void RequestCancelled(ILogger logger, string requestId, string endpoint, int streamedChunks, string reason);

    [LoggerMessage(8, LogLevel.Error, "Request {RequestId} {Endpoint} failed")]
    public static partial void RequestFailed(ILogger logger, Exception exception, string requestId, string endpoint);

    [LoggerMessage(9, LogLevel.Information, "Model has no tokenizer.chat_template; chat uses the fallback 'Role: content' format")]
    public static partial void FallbackChatFormat(ILogger logger);

    [LoggerMessage(11, LogLevel.Warning, "The model's chat template cannot be parsed, chat requests will be refused: {Reason}")]
    public static partial void ChatTemplateUnusable(ILogger logger, string reason);

    [LoggerMessage(10, LogLevel.Information, "Stopping: cancelling in-flight requests")]
    public static partial void Stopping(ILogger logger);

    [LoggerMessage(12, LogLevel.Information, "Warmed up in {Ms:F0} ms (every slot ran a short prompt through the inference loop; caches emptied)")]
    public static partial void WarmedUp(ILogger logger, double ms);
}
