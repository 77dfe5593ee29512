using Microsoft.AspNetCore.Http;
using Rbee.Contracts.Wire;

namespace Rbee.Queen.Scheduling;

/// <summary>
/// A request the scheduler cannot serve, with the OpenAI error it becomes: unknown model 404, queue full 429, waited too
/// long or nowhere fits 503 (DESIGN.md "Scheduling and routing"). <see cref="RetryAfterSeconds"/> goes into
/// <c>Retry-After</c>.
/// </summary>
public sealed class SchedulingException(int status, string type, string code, string message, string? param = null, int? retryAfterSeconds = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string Code { get; } = code;
    public string? Param { get; } = param;
    public int? RetryAfterSeconds { get; } = retryAfterSeconds;

    public const string ModelNotFoundCode = "model_not_found";

    public static SchedulingException ModelNotFound(string model, string? hint = null) => new(StatusCodes.Status404NotFound, ErrorTypes.NotFound,
        ModelNotFoundCode, $"The model '{model}' does not exist on any online hive (see GET /v1/models){hint}", "model");

    public static SchedulingException Unavailable(string code, string message, int? retryAfterSeconds = null) =>
        new(StatusCodes.Status503ServiceUnavailable, ErrorTypes.Unavailable, code, message, null, retryAfterSeconds);

    public static SchedulingException QueueFull(string message, int retryAfterSeconds) =>
        new(StatusCodes.Status429TooManyRequests, ErrorTypes.RateLimit, "queue_full", message, null, retryAfterSeconds);
}
