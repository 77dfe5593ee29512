using System.Buffers;
using System.Diagnostics;
using System.Text;
using Rbee.Worker.Sampling;

namespace Rbee.Worker.Serving;

/// <summary>A validated generation request, tokenized and ready for a slot.</summary>
public sealed record GenerationRequest
{
    public required int[] PromptTokens { get; init; }
    public required SamplingParameters Sampling { get; init; }

    /// <summary>Most tokens to generate; null means until end of generation or the context is full.</summary>
    public int? MaxTokens { get; init; }

    public IReadOnlyList<string> Stop { get; init; } = [];
    public bool IgnoreEos { get; init; }
}

public enum FinishReason { Stop, Length }

/// <summary>llama.cpp server's <c>timings</c>: prompt processing and generation measured separately.</summary>
public sealed record GenerationTimings(int PromptN, double PromptMs, int PredictedN, double PredictedMs)
{
    public double? PromptPerSecond => PromptMs > 0 ? PromptN * 1000.0 / PromptMs : null;
    public double? PredictedPerSecond => PredictedMs > 0 ? PredictedN * 1000.0 / PredictedMs : null;
}

public sealed record GenerationResult(
    string Text, int PromptTokens, int CompletionTokens, FinishReason FinishReason, GenerationTimings Timings);

/// <summary>
/// Runs one request on a slot: reuses the KV prefix the slot already holds, evaluates the rest of the prompt,
/// then samples token by token, turning bytes into text without splitting a character and holding back text
/// that may be the start of a stop string. Text that is safe to send goes to <c>onText</c> as it appears.
/// </summary>
public sealed class Generator(IServedModel model)
{
    /// <summary>Prompt tokens evaluated per call, so a long prompt does not need one huge activation buffer.</summary>
    public const int PromptBatch = 256;

    public async Task<GenerationResult> RunAsync(
        Slot slot, GenerationRequest request, Func<string, CancellationToken, ValueTask>? onText, CancellationToken ct)
    {
        var prompt = request.PromptTokens;
        var session = slot.Session;
        // The context bounds the reply whatever max_tokens says (clients send up to int.MaxValue).
        var limit = Math.Max(0, slot.ContextSize - prompt.Length);
        if (request.MaxTokens is { } max) limit = Math.Min(limit, max);

        // Reuse the common prefix; at least the last prompt token is evaluated again, since its logits are needed.
        var reuse = session.Tokens.CommonPrefixLength(prompt);
        if (reuse == prompt.Length) reuse--;
        session.Truncate(reuse);

        var clock = Stopwatch.StartNew();
        var logits = slot.Logits;
        for (var at = reuse; at < prompt.Length; at += PromptBatch)
        {
            ct.ThrowIfCancellationRequested();
            var chunk = prompt.AsSpan(at, Math.Min(PromptBatch, prompt.Length - at));
            session.Evaluate(chunk).CopyTo(logits);
        }
        var promptMs = clock.Elapsed.TotalMilliseconds;
        var promptEvaluated = prompt.Length - reuse;

        clock.Restart();

        var matcher = new StopStringMatcher(request.Stop);
        var decoder = new UTF8Encoding(false).GetDecoder();
        // Decoded straight into one growing buffer, so matching stop strings reads a span instead of copying
        // the recent text out every token.
        var text = new ArrayBufferWriter<char>(256);
        var emitted = 0;
        var generated = 0;
        var finish = FinishReason.Length;
        var stopAt = -1;
        var sampler = slot.Sampler;
        sampler.Reset(request.Sampling);

        while (generated < limit)
        {
            ct.ThrowIfCancellationRequested();
            // The session holds exactly the sequence so far: the prompt and every token generated before this one.
            var token = sampler.Sample(logits, session.Tokens);
            // End of generation ends the reply without being part of it (nor of completion_tokens).
            if (!request.IgnoreEos && model.IsEndOfGeneration(token)) { finish = FinishReason.Stop; break; }
            generated++;

            var bytes = model.TokenBytes(token);
            var n = decoder.GetChars(bytes, text.GetSpan(decoder.GetCharCount(bytes, flush: false)), flush: false);
            text.Advance(n);

            if (n > 0)
            {
                stopAt = matcher.Scan(text.WrittenSpan, emitted, out var safeEnd);
                if (safeEnd > emitted && onText is not null)
                {
                    await onText(text.WrittenSpan[emitted..safeEnd].ToString(), ct).ConfigureAwait(false);
                }
                emitted = Math.Max(emitted, safeEnd);
                if (stopAt >= 0) { finish = FinishReason.Stop; break; }
            }
            if (generated >= limit) break;
            session.Evaluate([token]).CopyTo(logits);
        }

        // Whatever the decoder still holds (an unfinished character) is flushed as U+FFFD, like llama.cpp.
        if (stopAt < 0)
        {
            var tail = decoder.GetCharCount([], flush: true);
            if (tail > 0) text.Advance(decoder.GetChars([], text.GetSpan(tail), flush: true));
            if (text.WrittenCount > emitted && onText is not null)
                await onText(text.WrittenSpan[emitted..].ToString(), ct).ConfigureAwait(false);
        }
        var finalText = stopAt >= 0 ? text.WrittenSpan[..stopAt].ToString() : text.WrittenSpan.ToString();
        var predictedMs = clock.Elapsed.TotalMilliseconds;
        return new GenerationResult(finalText, prompt.Length, generated, finish,
            new GenerationTimings(promptEvaluated, promptMs, generated, predictedMs));
    }
}
