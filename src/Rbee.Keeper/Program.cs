using System.CommandLine;
using Rbee.Keeper.Cli;
using Spectre.Console;

var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
// A table piped into a file or a test should not wrap at the 80 columns assumed without a terminal.
if (Console.IsOutputRedirected) console.Profile.Width = 200;
var root = RbeeCli.Build(Console.Out, Console.Error, console);
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = Console.Out, Error = Console.Error });
