namespace Rbee.Worker.Serving;

/// <summary>
/// What the HTTP layer needs from a loaded model: its tokenizer, chat formatting and per-slot sessions. The
/// seam keeps request handling, slots and generation testable with a small double, and keeps the engine's own
/// types out of the serving code.
/// </summary>
public interface IServedModel : IDisposable
{
    /// <summary>The model's trained context length (GGUF <c>context_length</c>).</summary>
    int TrainedContextLength { get; }

    int VocabSize { get; }

    /// <summary>"gguf" when the model's own <c>tokenizer.chat_template</c> is used, else "fallback".</summary>
    string ChatFormat { get; }

    int[] Tokenize(string text, bool addSpecial, bool parseSpecial);

    /// <summary>The bytes a token stands for in output text (UTF-8, possibly a partial character).</summary>
    ReadOnlySpan<byte> TokenBytes(int token);

    /// <summary>End of generation: EOS, EOT and the like.</summary>
    bool IsEndOfGeneration(int token);

    /// <summary>The chat rendered to the prompt text, with the generation prompt appended. Throws
    /// <see cref="ChatFormatException"/> when the template rejects the conversation.</summary>
    string RenderChat(IReadOnlyList<ChatTurn> messages);

    /// <summary>True when the rendered chat already begins with BOS text, so tokenizing must not add another.</summary>
    bool RenderedChatHasBos(string rendered);

    IModelSession CreateSession(int contextSize);

    /// <summary>
    /// Appends <c>tokens[i]</c> to <c>sessions[i]</c> for every i, in one forward pass where the engine can, and
    /// writes each one's logits to row i of <paramref name="logits"/> (<see cref="VocabSize"/> values a row). A
    /// sequence's logits must not depend on the others in the pass (batch invariance): greedy output is then the same
    /// whoever else is served. This default evaluates the sessions one after the other, which is trivially invariant.
    /// </summary>
    void DecodeBatch(ReadOnlySpan<IModelSession> sessions, ReadOnlySpan<int> tokens, Span<float> logits)
    {
        for (var i = 0; i < sessions.Length; i++)
            sessions[i].Evaluate([tokens[i]]).CopyTo(logits.Slice(i * VocabSize, VocabSize));
    }

    /// <summary>
    /// Whether a prompt chunk of <paramref name="tokens"/> tokens may share a <see cref="PrefillBatch"/> pass with
    /// others, its cache and logits bit for bit those of evaluating it alone. The default (no engine support) is false.
    /// </summary>
    bool PrefillsTogether(int tokens) => false;

    /// <summary>Most prompt tokens, all chunks together, one <see cref="PrefillBatch"/> pass takes.</summary>
    int PrefillBatchTokens => 0;

    /// <summary>
    /// Appends the next <c>lengths[i]</c> of <paramref name="tokens"/> to <c>sessions[i]</c> for every i, in one forward
    /// pass where the engine can, and writes the logits after each chunk's last token to row i of
    /// <paramref name="logits"/>. Only for chunks <see cref="PrefillsTogether"/> accepts, at most
    /// <see cref="PrefillBatchTokens"/> in all. This default evaluates the sessions one after the other.
    /// </summary>
    void PrefillBatch(ReadOnlySpan<IModelSession> sessions, ReadOnlySpan<int> tokens, ReadOnlySpan<int> lengths, Span<float> logits)
    {
        for (int i = 0, at = 0; i < sessions.Length; at += lengths[i++])
            sessions[i].Evaluate(tokens.Slice(at, lengths[i])).CopyTo(logits.Slice(i * VocabSize, VocabSize));
    }
}

/// <summary>One sequence's KV cache.</summary>
public interface IModelSession : IDisposable
{
    /// <summary>Tokens held in the cache.</summary>
    int Position { get; }

    /// <summary>The tokens the cache holds, in order, so a new prompt can reuse their common prefix (valid until
    /// the next change).</summary>
    ReadOnlySpan<int> Tokens { get; }

    /// <summary>Appends tokens and returns the logits after the last one.</summary>
    ReadOnlySpan<float> Evaluate(ReadOnlySpan<int> tokens);

    /// <summary>Drops everything from <paramref name="position"/> on.</summary>
    void Truncate(int position);
}

public sealed record ChatTurn(string Role, string Content);

/// <summary>The chat template could not render the conversation; the request gets 400 with this message.</summary>
public sealed class ChatFormatException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The documented format for models without <c>tokenizer.chat_template</c>: each message as
/// <c>Role: content</c> on its own line, then <c>Assistant:</c> for the reply. Plain text works with any
/// base model and is what completion-style models have seen most.
/// </summary>
public static class FallbackChatFormat
{
    public static string Render(IReadOnlyList<ChatTurn> messages)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var m in messages)
        {
            var role = m.Role.Length == 0 ? m.Role : char.ToUpperInvariant(m.Role[0]) + m.Role[1..];
            sb.Append(role).Append(": ").Append(m.Content).Append('\n');
        }
        sb.Append("Assistant:");
        return sb.ToString();
    }
}
