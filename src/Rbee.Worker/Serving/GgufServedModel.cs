using Microsoft.Extensions.Logging;
using Rbee.Worker.ChatTemplates;
using Rbee.Worker.Model;
using Rbee.Worker.Tokenizers;

namespace Rbee.Worker.Serving;

/// <summary>
/// The built-in engine behind <see cref="IServedModel"/>: a <see cref="LlamaModel"/> over the memory-mapped GGUF,
/// its tokenizer, and its <c>tokenizer.chat_template</c> (or <see cref="FallbackChatFormat"/> when it has none).
/// </summary>
public sealed class GgufServedModel : IServedModel
{
    public const string ChatTemplateKey = "tokenizer.chat_template";

    private readonly LlamaModel _model;
    private readonly Tokenizer _tokenizer;
    private readonly ChatTemplate? _template;
    private readonly string? _templateError;
    private readonly string? _bosText;
    private readonly string? _eosText;

    private GgufServedModel(LlamaModel model, Tokenizer tokenizer, ChatTemplate? template, string? templateError, string chatFormat)
    {
        _model = model;
        _tokenizer = tokenizer;
        _template = template;
        _templateError = templateError;
        ChatFormat = chatFormat;
        _bosText = tokenizer.BosId is { } b ? tokenizer.TokenText(b) : null;
        _eosText = tokenizer.EosId is { } e ? tokenizer.TokenText(e) : null;
    }

    public static IServedModel Load(WorkerOptions options, ILogger log)
    {
        var model = LlamaModel.Load(options.ModelPath, new ModelLoadOptions { Threads = options.Threads });
        try
        {
            var tokenizer = Tokenizer.FromGguf(model.File);
            if (tokenizer.VocabSize != model.Config.VocabSize)
                throw new InvalidDataException(
                    $"the tokenizer has {tokenizer.VocabSize} tokens but the model's output has {model.Config.VocabSize}");
            var source = model.File.GetString(ChatTemplateKey);
            if (string.IsNullOrWhiteSpace(source))
            {
                WorkerLog.FallbackChatFormat(log);
                return new GgufServedModel(model, tokenizer, null, null, "fallback");
            }
            try
            {
                return new GgufServedModel(model, tokenizer, ChatTemplate.Parse(source), null, "gguf");
            }
            catch (ChatTemplateException ex)
            {
                // Completions still work; chat requests are refused with this reason rather than guessed at.
                WorkerLog.ChatTemplateUnusable(log, ex.Message);
                return new GgufServedModel(model, tokenizer, null, ex.Message, "gguf-unusable");
            }
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public int TrainedContextLength => _model.Config.ContextLength;
    public int VocabSize => _model.Config.VocabSize;
    public string ChatFormat { get; }

    public int[] Tokenize(string text, bool addSpecial, bool parseSpecial) => _tokenizer.Encode(text, addSpecial, parseSpecial);

    /// <summary>Control tokens print nothing, as in llama.cpp's server (its default <c>special = false</c>).</summary>
    public ReadOnlySpan<byte> TokenBytes(int token) => _tokenizer.IsSpecial(token) ? [] : _tokenizer.TokenBytes(token);

    public bool IsEndOfGeneration(int token) => _tokenizer.EndOfGenerationIds.Contains(token);

    public string RenderChat(IReadOnlyList<ChatTurn> messages)
    {
        if (_templateError is not null) throw new ChatFormatException($"the model's chat template cannot be used: {_templateError}");
        if (_template is null) return FallbackChatFormat.Render(messages);
        try
        {
            return _template.Render(messages.Select(m => new ChatMessage(m.Role, m.Content)).ToList(),
                addGenerationPrompt: true, _bosText, _eosText);
        }
        catch (ChatTemplateException ex)
        {
            throw new ChatFormatException(ex.Message, ex);
        }
    }

    /// <summary>Most templates print <c>bos_token</c> themselves; adding BOS again would double it.</summary>
    public bool RenderedChatHasBos(string rendered) =>
        _bosText is not null && rendered.StartsWith(_bosText, StringComparison.Ordinal);

    public IModelSession CreateSession(int contextSize) => new Session(_model.CreateSession(contextSize));

    // Used by the inference loop's thread alone; grown when more sequences share a step than ever before.
    private BatchDecoder? _decoder;
    private InferenceSession[] _batch = [];

    /// <summary>One forward pass for every session (<see cref="BatchDecoder"/>): the weights are read once per step.</summary>
    public void DecodeBatch(ReadOnlySpan<IModelSession> sessions, ReadOnlySpan<int> tokens, Span<float> logits)
    {
        var decoder = Decoder(sessions);
        try
        {
            decoder.Decode(_batch.AsSpan(0, sessions.Length), tokens, logits);
        }
        finally
        {
            Array.Clear(_batch, 0, sessions.Length);
        }
    }

    public bool PrefillsTogether(int tokens) => Decoder([]).PrefillsTogether(tokens);

    public int PrefillBatchTokens => Decoder([]).PrefillTokens;

    /// <summary>Several sessions' prompt chunks in one forward pass (<see cref="BatchDecoder.Prefill"/>).</summary>
    public void PrefillBatch(ReadOnlySpan<IModelSession> sessions, ReadOnlySpan<int> tokens, ReadOnlySpan<int> lengths, Span<float> logits)
    {
        var decoder = Decoder(sessions);
        try
        {
            decoder.Prefill(_batch.AsSpan(0, sessions.Length), tokens, lengths, logits);
        }
        finally
        {
            Array.Clear(_batch, 0, sessions.Length);
        }
    }

    /// <summary>The loop's decoder, grown to hold <paramref name="sessions"/>, whose engine sessions it puts in _batch.</summary>
    private BatchDecoder Decoder(ReadOnlySpan<IModelSession> sessions)
    {
        var n = sessions.Length;
        if (_decoder is null || _decoder.Capacity < n)
        {
            _decoder = _model.CreateBatchDecoder(Math.Max(n, 2 * (_decoder?.Capacity ?? 2)));
            _batch = new InferenceSession[_decoder.Capacity];
        }
        for (var i = 0; i < n; i++) _batch[i] = ((Session)sessions[i]).Inner;
        return _decoder;
    }

    public void Dispose() => _model.Dispose();

    private sealed class Session(InferenceSession session) : IModelSession
    {
        public InferenceSession Inner => session;
        public int Position => session.Position;
        public ReadOnlySpan<int> Tokens => session.Tokens;
        public ReadOnlySpan<float> Evaluate(ReadOnlySpan<int> tokens) => session.Evaluate(tokens);
        public void Truncate(int position) => session.Truncate(position);
        public void Dispose() { }
    }
}
