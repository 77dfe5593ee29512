using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
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
/// One request on one slot, stepped by the <see cref="InferenceLoop"/> (its thread alone touches the slot): reuses
/// the KV prefix the slot already holds, evaluates the rest of the prompt a chunk at a time, then takes the logits of
/// each decode step, samples, turns bytes into text without splitting a character and holds back text that may be the
/// start of a stop string. Text that is safe to send is written to <see cref="Text"/> as it appears (the loop never
/// waits for a client); the outcome completes <see cref="Result"/> once the loop has let go of the slot.
/// </summary>
public sealed class Generation
{
    /// <summary>Prompt tokens evaluated per loop step, so a long prompt neither needs one huge activation buffer nor
    /// stalls the other slots' decoding for its whole length.</summary>
    public const int PromptBatch = 256;

    private readonly IServedModel _model;
    private readonly GenerationRequest _request;
    private readonly Channel<string>? _text;
    private readonly TaskCompletionSource<GenerationResult> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenRegistration _cancelRegistration;
    private volatile bool _cancelRequested;

    private readonly StopStringMatcher _matcher;
    private readonly Decoder _decoder = new UTF8Encoding(false).GetDecoder();
    // Decoded straight into one growing buffer, so matching stop strings reads a span instead of copying the recent
    // text out every token.
    private readonly ArrayBufferWriter<char> _written = new(256);
    private readonly Stopwatch _clock = new();
    private int _limit, _promptAt, _reuse, _emitted, _generated, _stopAt = -1;
    private double _promptMs;
    private FinishReason _finish = FinishReason.Length;

    internal Generation(IServedModel model, Slot slot, GenerationRequest request, bool streaming, CancellationToken ct)
    {
        _model = model;
        Slot = slot;
        _request = request;
        _matcher = new StopStringMatcher(request.Stop);
        if (streaming) _text = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        _cancelRegistration = ct.Register(static g => ((Generation)g!).Cancel(), this);
    }

    public Slot Slot { get; }

    /// <summary>Text safe to send, piece by piece, completed when the generation ends (whatever the outcome); null
    /// when the request does not stream.</summary>
    public ChannelReader<string>? Text => _text?.Reader;

    /// <summary>The outcome, completed (or failed, or cancelled) only once the loop no longer touches the slot.</summary>
    public Task<GenerationResult> Result => _result.Task;

    /// <summary>Asks the loop to drop this generation at its next step; idempotent, and harmless once it has ended.</summary>
    public void Cancel() => _cancelRequested = true;

    internal bool CancelRequested => _cancelRequested;

    /// <summary>True while prompt tokens remain to evaluate; then the generation decodes <see cref="NextToken"/>.</summary>
    internal bool Prefilling => _promptAt < _request.PromptTokens.Length;

    /// <summary>The token the next decode step appends (the one sampled last).</summary>
    internal int NextToken { get; private set; } = -1;

    internal IModelSession Session => Slot.Session;

    /// <summary>Takes the slot: reuses the common prefix of its cache (at least the last prompt token is evaluated
    /// again, since its logits are needed) and resets the sampler.</summary>
    internal void Begin()
    {
        var prompt = _request.PromptTokens;
        // The context bounds the reply whatever max_tokens says (clients send up to int.MaxValue).
        _limit = Math.Max(0, Slot.ContextSize - prompt.Length);
        if (_request.MaxTokens is { } max) _limit = Math.Min(_limit, max);
        var session = Slot.Session;
        _reuse = session.Tokens.CommonPrefixLength(prompt);
        if (_reuse == prompt.Length) _reuse--;
        session.Truncate(_reuse);
        _promptAt = _reuse;
        Slot.Sampler.Reset(_request.Sampling);
        _clock.Start();
    }

    /// <summary>Tokens the next <see cref="PrefillChunk"/> evaluates. Chunks start every <see cref="PromptBatch"/>
    /// tokens from where the slot's cached prefix ends, whatever else the loop is serving, so a prompt's cache and
    /// logits do not depend on the load.</summary>
    internal int NextChunk => Math.Min(PromptBatch, _request.PromptTokens.Length - _promptAt);

    /// <summary>Evaluates the next chunk of the prompt (<see cref="NextChunk"/> tokens); after the last one, samples the
    /// first token. Returns false when the generation has ended.</summary>
    internal bool PrefillChunk() => ChunkEvaluated(Slot.Session.Evaluate(NextChunkTokens));

    /// <summary>The prompt tokens of the next chunk (<see cref="NextChunk"/> of them).</summary>
    internal ReadOnlySpan<int> NextChunkTokens => _request.PromptTokens.AsSpan(_promptAt, NextChunk);

    /// <summary>
    /// The next chunk has been appended to the session (by <see cref="PrefillChunk"/>, or by the loop in one pass with
    /// other slots' chunks) and <paramref name="logits"/> follow its last token: moves past it and, after the last one,
    /// samples the first token. Returns false when the generation has ended.
    /// </summary>
    internal bool ChunkEvaluated(ReadOnlySpan<float> logits)
    {
        _promptAt += NextChunk;
        if (Prefilling) return true;
        _promptMs = _clock.Elapsed.TotalMilliseconds;
        _clock.Restart();
        return Accept(logits);
    }

    /// <summary>
    /// Samples from the logits of the sequence so far, emits the text that is safe to send, and returns true with
    /// <see cref="NextToken"/> set when generation goes on, false once it has ended (<see cref="Result"/> is then set).
    /// </summary>
    internal bool Accept(ReadOnlySpan<float> logits)
    {
        if (_generated >= _limit) return Finish();
        // The session holds exactly the sequence so far: the prompt and every token generated before this one.
        var token = Slot.Sampler.Sample(logits, Slot.Session.Tokens);
        // End of generation ends the reply without being part of it (nor of completion_tokens).
        if (!_request.IgnoreEos && _model.IsEndOfGeneration(token))
        {
            _finish = FinishReason.Stop;
            return Finish();
        }
        _generated++;

        var bytes = _model.TokenBytes(token);
        var n = _decoder.GetChars(bytes, _written.GetSpan(_decoder.GetCharCount(bytes, flush: false)), flush: false);
        _written.Advance(n);
        if (n > 0)
        {
            _stopAt = _matcher.Scan(_written.WrittenSpan, _emitted, out var safeEnd);
            if (safeEnd > _emitted) _text?.Writer.TryWrite(_written.WrittenSpan[_emitted..safeEnd].ToString());
            _emitted = Math.Max(_emitted, safeEnd);
            if (_stopAt >= 0)
            {
                _finish = FinishReason.Stop;
                return Finish();
            }
        }
        if (_generated >= _limit) return Finish();
        NextToken = token;
        return true;
    }

    private bool Finish()
    {
        // Whatever the decoder still holds (an unfinished character) is flushed as U+FFFD, like llama.cpp.
        if (_stopAt < 0)
        {
            var tail = _decoder.GetCharCount([], flush: true);
            if (tail > 0) _written.Advance(_decoder.GetChars([], _written.GetSpan(tail), flush: true));
            if (_written.WrittenCount > _emitted) _text?.Writer.TryWrite(_written.WrittenSpan[_emitted..].ToString());
        }
        var finalText = _stopAt >= 0 ? _written.WrittenSpan[.._stopAt].ToString() : _written.WrittenSpan.ToString();
        var prompt = _request.PromptTokens;
        var result = new GenerationResult(finalText, prompt.Length, _generated, _finish,
            new GenerationTimings(prompt.Length - _reuse, _promptMs, _generated, _clock.Elapsed.TotalMilliseconds));
        End();
        _result.TrySetResult(result);
        return false;
    }

    /// <summary>The loop has dropped the generation after a failure of its step.</summary>
    internal void Fail(Exception ex)
    {
        End();
        _result.TrySetException(ex);
    }

    /// <summary>The loop has dropped the generation because it was cancelled.</summary>
    internal void Cancelled()
    {
        End();
        _result.TrySetCanceled();
    }

    private void End()
    {
        _cancelRegistration.Dispose();
        _text?.Writer.TryComplete();
    }
}
