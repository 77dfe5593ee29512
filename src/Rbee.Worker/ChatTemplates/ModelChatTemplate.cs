using Rbee.Worker.Gguf;

namespace Rbee.Worker.ChatTemplates;

/// <summary>
/// A model's own chat template and the special tokens it is rendered with, read from the GGUF metadata:
/// <c>tokenizer.chat_template</c>, and <c>bos_token</c>/<c>eos_token</c> as the token texts at
/// <c>tokenizer.ggml.bos_token_id</c>/<c>eos_token_id</c> (what Hugging Face passes from its tokenizer).
/// </summary>
public sealed class ModelChatTemplate
{
    private ModelChatTemplate(ChatTemplate template, string source, string? bosToken, string? eosToken)
    {
        Template = template;
        Source = source;
        BosToken = bosToken;
        EosToken = eosToken;
    }

    public ChatTemplate Template { get; }

    public string Source { get; }

    public string? BosToken { get; }

    public string? EosToken { get; }

    /// <summary>Null when the file carries no chat template; throws <see cref="ChatTemplateException"/> when it cannot be parsed.</summary>
    public static ModelChatTemplate? FromGguf(GgufFile gguf)
    {
        ArgumentNullException.ThrowIfNull(gguf);
        var source = gguf.GetString("tokenizer.chat_template");
        if (source is null)
        {
            return null;
        }

        var tokens = gguf.Get("tokenizer.ggml.tokens")?.Value as string[];
        string? TokenText(string key) =>
            gguf.GetInt(key) is { } id && tokens is not null && id >= 0 && id < tokens.Length ? tokens[id] : null;

        return new ModelChatTemplate(
            ChatTemplate.Parse(source),
            source,
            TokenText("tokenizer.ggml.bos_token_id"),
            TokenText("tokenizer.ggml.eos_token_id"));
    }

    /// <summary>Renders with the model's own special tokens.</summary>
    public string Render(
        IReadOnlyList<ChatMessage> messages,
        bool addGenerationPrompt,
        TimeProvider? time = null,
        IReadOnlyDictionary<string, object?>? extraVariables = null) =>
        Template.Render(messages, addGenerationPrompt, BosToken, EosToken, time, extraVariables);
}
