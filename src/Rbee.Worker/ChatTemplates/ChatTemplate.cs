namespace Rbee.Worker.ChatTemplates;

/// <summary>
/// A model's <c>tokenizer.chat_template</c>, parsed once and rendered per request the way Hugging Face's
/// <c>apply_chat_template</c> renders it with jinja2 (trim_blocks, lstrip_blocks, loop controls,
/// <c>tojson</c> with ensure_ascii=False, <c>raise_exception</c>, <c>strftime_now</c>).
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>The most characters a render may produce (and any string in it may hold); more is a <see cref="ChatTemplateException"/>.</summary>
    public const int MaxOutputChars = TemplateLimits.MaxStringChars;

    private readonly List<Node> _body;

    private ChatTemplate(List<Node> body) => _body = body;

    /// <summary>Parses a template; a syntax error or a construct outside the subset throws with its line and column.</summary>
    public static ChatTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        try
        {
            return new ChatTemplate(TemplateParser.Parse(source));
        }
        catch (InsufficientExecutionStackException e)
        {
            throw new ChatTemplateException("template is nested too deeply to parse", e);
        }
    }

    /// <summary>
    /// Renders a conversation. <c>bos_token</c>/<c>eos_token</c> are left undefined when null (they then print
    /// nothing, as with a tokenizer that has none); <paramref name="extraVariables"/> adds or overrides names
    /// such as <c>tools</c> (a list of OpenAI tool objects, e.g. a JsonElement) or <c>enable_thinking</c>.
    /// Names not given stay undefined, as in the reference renderer (cases.json); Hugging Face's
    /// apply_chat_template also defines <c>tools</c> and <c>documents</c> as None, pass them here for that.
    /// Thread-safe: a parsed template can be rendered by many requests at once.
    /// </summary>
    public string Render(
        IReadOnlyList<ChatMessage> messages,
        bool addGenerationPrompt,
        string? bosToken,
        string? eosToken,
        TimeProvider? time = null,
        IReadOnlyDictionary<string, object?>? extraVariables = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["messages"] = messages,
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        if (bosToken is not null)
        {
            variables["bos_token"] = bosToken;
        }

        if (eosToken is not null)
        {
            variables["eos_token"] = eosToken;
        }

        if (extraVariables is not null)
        {
            foreach (var (k, v) in extraVariables)
            {
                variables[k] = v;
            }
        }

        return Render(variables, time);
    }

    /// <summary>Renders with arbitrary variables (.NET values, JsonElement, ChatMessage all accepted).</summary>
    public string Render(IReadOnlyDictionary<string, object?> variables, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(variables);
        try
        {
            return new TemplateInterpreter(time ?? TimeProvider.System).Render(_body, variables);
        }
        catch (InsufficientExecutionStackException e)
        {
            throw new ChatTemplateException("template is nested too deeply to render", e);
        }
    }
}
