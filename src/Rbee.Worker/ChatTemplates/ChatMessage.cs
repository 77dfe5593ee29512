namespace Rbee.Worker.ChatTemplates;

/// <summary>
/// One message as chat templates see it: a mapping with <c>role</c> and <c>content</c> (None when null),
/// plus <c>name</c>, <c>tool_call_id</c>, <c>reasoning_content</c> and <c>tool_calls</c> only when set, the shape Hugging Face's
/// <c>apply_chat_template</c> passes.
/// </summary>
public sealed record ChatMessage(string Role, string? Content)
{
    public string? Name { get; init; }

    public string? ToolCallId { get; init; }

    /// <summary>A reasoning model's earlier thinking, as <c>reasoning_content</c> (Qwen3's template reads it).</summary>
    public string? ReasoningContent { get; init; }

    public IReadOnlyList<ChatToolCall>? ToolCalls { get; init; }
}

/// <summary>
/// A tool call of an assistant message. <paramref name="Arguments"/> is the JSON text OpenAI clients send;
/// templates receive it parsed to a mapping (Hugging Face's convention, so <c>arguments | tojson</c> gives JSON
/// back) or as the plain string when it is not a JSON object.
/// </summary>
public sealed record ChatToolCall(string Id, string Name, string Arguments);
