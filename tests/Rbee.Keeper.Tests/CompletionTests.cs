using System.Diagnostics;
using Rbee.Keeper.Cli;
using Rbee.Keeper.Completion;

namespace Rbee.Keeper.Tests;

/// <summary>The completion scripts come from the command tree: every command and its options, and bash really completes with them.</summary>
public sealed class CompletionTests
{
    private static System.CommandLine.RootCommand Root() => RbeeCli.Build(KeeperIo.Plain(TextWriter.Null, TextWriter.Null));

    [Fact]
    public void Bash_NamesEveryCommand_AndEachCommandsOptions()
    {
        var script = CompletionScripts.Bash(Root());
        foreach (var command in new[] { "up", "down", "status", "run", "ls", "ps", "stop", "pull", "rm", "logs", "hive", "config", "completion" }) Assert.Contains(command, script);
        Assert.Contains("--param", script);
        Assert.Contains("--all", script);
        Assert.Contains("complete -F _rbee rbee", script);
    }

    [Fact]
    public void Fish_CompletesSubcommandsAndTheirOptions()
    {
        var script = CompletionScripts.Fish(Root());
        Assert.Contains("complete -c rbee -n __fish_use_subcommand -a pull", script);
        Assert.Contains("complete -c rbee -n '__fish_seen_subcommand_from pull' -l hive", script);
    }

    [Theory]
    [InlineData("rbee p", new[] { "ps", "pull" })]
    [InlineData("rbee pull x --a", new[] { "--all" })]
    [InlineData("rbee --queen-url http://q:7833 pull x --a", new[] { "--all" })]
    [InlineData("rbee completion z", new[] { "zsh" })]
    public void Bash_Completes(string line, string[] expected)
    {
        if (!File.Exists("/bin/bash")) return;
        var script = Path.GetTempFileName();
        File.WriteAllText(script, CompletionScripts.Bash(Root()) + $$"""
            COMP_WORDS=({{line}})
            COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
            _rbee
            printf '%s\n' "${COMPREPLY[@]}"
            """);
        try
        {
            var psi = new ProcessStartInfo("/bin/bash", [script]) { RedirectStandardOutput = true };
            using var bash = Process.Start(psi)!;
            var output = bash.StandardOutput.ReadToEnd();
            bash.WaitForExit();
            Assert.Equal(expected, output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        finally
        {
            File.Delete(script);
        }
    }
}
