namespace Rbee.Worker.ChatTemplates;

/// <summary>
/// A chat template could not be parsed or rendered. <see cref="RaisedByTemplate"/> is true when the
/// template itself called <c>raise_exception(msg)</c>: then <see cref="Exception.Message"/> is exactly the
/// template's message (the request is wrong, not the template), otherwise it names the construct and where.
/// </summary>
public sealed class ChatTemplateException : Exception
{
    public ChatTemplateException()
    {
    }

    public ChatTemplateException(string message)
        : base(message)
    {
    }

    public ChatTemplateException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal ChatTemplateException(string message, int? line, int? column, bool raisedByTemplate = false)
        : base(message)
    {
        Line = line;
        Column = column;
        RaisedByTemplate = raisedByTemplate;
    }

    /// <summary>An error at a place in the template source; the place is appended to the message for the operator.</summary>
    internal static ChatTemplateException At(string message, int line, int column) =>
        new($"{message} (line {line}, column {column})", line, column);

    /// <summary>1-based line in the template source, when known.</summary>
    public int? Line { get; }

    /// <summary>1-based column in the template source, when known.</summary>
    public int? Column { get; }

    /// <summary>True when the template raised this itself through <c>raise_exception</c>.</summary>
    public bool RaisedByTemplate { get; }
}
