using Spectre.Console;

namespace Rbee.Keeper.Cli;

/// <summary>
/// Where a command writes: answers to <see cref="Output"/> (stdout), progress, status lines and errors to
/// <see cref="Error"/> (stderr), so <c>rbee run m "q" &gt; answer.txt</c> holds only the answer. The Spectre consoles
/// render tables and bars on each; colour is off when the stream is not a terminal or <c>NO_COLOR</c> is set.
/// </summary>
public sealed class KeeperIo
{
    public required TextWriter Output { get; init; }
    public required TextWriter Error { get; init; }
    public required IAnsiConsole Out { get; init; }
    public required IAnsiConsole Err { get; init; }

    /// <summary>Stderr is a terminal: live progress bars and status lines that redraw in place.</summary>
    public bool ErrorIsTerminal { get; init; }

    /// <summary>Status lines on stderr may be dimmed: a terminal, and no <c>NO_COLOR</c>.</summary>
    public bool ErrorHasColor { get; init; }

    /// <summary>Stdin is a terminal: <c>rbee run MODEL</c> without a prompt chats.</summary>
    public bool InputIsTerminal { get; init; }

    public TextReader Input { get; init; } = TextReader.Null;

    /// <summary>The process's own streams.</summary>
    public static KeeperIo FromProcess()
    {
        var noColor = Environment.GetEnvironmentVariable("NO_COLOR") is { Length: > 0 };
        return new KeeperIo
        {
            Output = Console.Out,
            Error = Console.Error,
            Out = Create(Console.Out, Console.IsOutputRedirected, noColor),
            Err = Create(Console.Error, Console.IsErrorRedirected, noColor),
            ErrorIsTerminal = !Console.IsErrorRedirected,
            ErrorHasColor = !Console.IsErrorRedirected && !noColor,
            InputIsTerminal = !Console.IsInputRedirected,
            Input = Console.In,
        };
    }

    /// <summary>Writers with no terminal and no colour: for tests.</summary>
    public static KeeperIo Plain(TextWriter output, TextWriter error, TextReader? input = null) => new()
    {
        Output = output,
        Error = error,
        Out = Create(output, redirected: true, noColor: true),
        Err = Create(error, redirected: true, noColor: true),
        Input = input ?? TextReader.Null,
    };

    private static IAnsiConsole Create(TextWriter writer, bool redirected, bool noColor)
    {
        var plain = redirected || noColor;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = plain ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Interactive = redirected ? InteractionSupport.No : InteractionSupport.Detect,
        });
        // A table piped into a file or a test should not wrap at the 80 columns assumed without a terminal.
        if (redirected) console.Profile.Width = 200;
        return console;
    }
}
