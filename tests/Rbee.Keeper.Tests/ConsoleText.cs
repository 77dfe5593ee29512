using Spectre.Console;
using Spectre.Console.Rendering;

namespace Rbee.Keeper.Tests;

/// <summary>Renders a Spectre widget as plain text, 200 columns, no colour: what a pipe or a file gets.</summary>
internal static class ConsoleText
{
    public static string Render(IRenderable widget)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
        });
        console.Profile.Width = 200;
        console.Write(widget);
        return writer.ToString();
    }

    public static string Line(string text, string containing) =>
        text.Split('\n').Single(l => l.Contains(containing, StringComparison.Ordinal));
}
