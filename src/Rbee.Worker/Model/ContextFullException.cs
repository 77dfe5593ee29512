namespace Rbee.Worker.Model;

/// <summary>
/// Evaluating the given tokens would run past the session's context. Nothing was evaluated; the session is unchanged,
/// so the caller can truncate and retry, or answer the request with a length error.
/// </summary>
public sealed class ContextFullException(int contextSize, int position, int tokens)
    : InvalidOperationException($"context overflow: {tokens} token(s) at position {position} exceed the context of {contextSize} tokens")
{
    public int ContextSize { get; } = contextSize;
    public int Position { get; } = position;
    public int Tokens { get; } = tokens;
}
