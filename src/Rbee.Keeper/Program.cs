using System.CommandLine;
using Rbee.Keeper.Cli;
using Rbee.Keeper.Connection;

var io = KeeperIo.FromProcess();
var root = RbeeCli.Build(io);
var result = root.Parse(args);
if (result.Errors.Count > 0 && result.Action is not System.CommandLine.Help.HelpAction)
{
    // Usage errors exit 2 (System.CommandLine's own handler would exit 1, the code of a failed operation).
    foreach (var e in result.Errors) io.Error.WriteLine($"rbee: {e.Message}");
    io.Error.WriteLine("see `rbee --help` (or `rbee COMMAND --help`)");
    return ExitCodes.Usage;
}
using var command = new CancellationTokenSource();
CtrlC.Install(command);
// Ctrl-C is ours (CtrlC): the chat must survive it, other commands cancel their job and exit 130.
return await result.InvokeAsync(new InvocationConfiguration { Output = io.Output, Error = io.Error, ProcessTerminationTimeout = null }, command.Token);
