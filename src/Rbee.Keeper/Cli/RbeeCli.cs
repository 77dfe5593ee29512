using System.CommandLine;
using Rbee.Keeper.Lifecycle;
using Rbee.Keeper.Status;
using Spectre.Console;

namespace Rbee.Keeper.Cli;

/// <summary>The <c>rbee</c> command tree: definitions wired to behaviours with <c>SetAction</c>.</summary>
public static class RbeeCli
{
    public static RootCommand Build(TextWriter output, TextWriter error, IAnsiConsole console)
    {
        var root = new RootCommand("rbee: one OpenAI-compatible endpoint over every GPU and CPU of your machines");

        var up = new UpCommandDefinition();
        up.SetAction((p, ct) => new UpCommand(output, error).RunAsync(
            new UpRequest(p.GetValue(up.QueenUrl)!, p.GetValue(up.HivePort), TimeSpan.FromSeconds(p.GetValue(up.Timeout))), ct));
        root.Subcommands.Add(up);

        var down = new DownCommandDefinition();
        down.SetAction((p, ct) => new DownCommand(output, error).RunAsync(
            new DownRequest(p.GetValue(down.QueenUrl)!, p.GetValue(down.HivePort), TimeSpan.FromSeconds(p.GetValue(down.Timeout))), ct));
        root.Subcommands.Add(down);

        var status = new StatusCommandDefinition();
        status.SetAction((p, ct) => new StatusCommand(console, output, error).RunAsync(
            new StatusRequest(p.GetValue(status.QueenUrl)!, p.GetValue(status.Json)), ct));
        root.Subcommands.Add(status);

        return root;
    }
}
