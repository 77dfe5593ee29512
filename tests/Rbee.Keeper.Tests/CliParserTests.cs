using System.CommandLine;
using Rbee.Keeper.Cli;
using Spectre.Console;

namespace Rbee.Keeper.Tests;

/// <summary>The command tree parsed without starting anything (STYLE.md §7).</summary>
public sealed class CliParserTests
{
    private static RootCommand Root() => RbeeCli.Build(TextWriter.Null, TextWriter.Null, AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(TextWriter.Null) }));

    private static (ParseResult Result, T Command) Parse<T>(string line) where T : Command
    {
        var result = Root().Parse(line);
        return (result, Assert.IsType<T>(result.CommandResult.Command));
    }

    [Fact]
    public void Status_Defaults_ToTheLocalQueen_AndATable()
    {
        var (result, status) = Parse<StatusCommandDefinition>("status");
        Assert.Empty(result.Errors);
        Assert.Equal(new Uri("http://localhost:7833"), result.GetValue(status.QueenUrl));
        Assert.False(result.GetValue(status.Json));
    }

    [Fact]
    public void Status_TakesJsonAndQueenUrl()
    {
        var (result, status) = Parse<StatusCommandDefinition>("status --json --queen-url http://10.0.0.2:7833");
        Assert.Empty(result.Errors);
        Assert.True(result.GetValue(status.Json));
        Assert.Equal(new Uri("http://10.0.0.2:7833"), result.GetValue(status.QueenUrl));
    }

    [Theory]
    [InlineData("status --queen-url ftp://x")]
    [InlineData("status --queen-url not-a-url")]
    [InlineData("up --hive-port 0")]
    [InlineData("up --hive-port 70000")]
    [InlineData("down --timeout 0")]
    [InlineData("status --bogus")]
    [InlineData("nonsense")]
    public void BadInput_IsAParseError(string line) => Assert.NotEmpty(Root().Parse(line).Errors);

    [Fact]
    public void Up_Defaults_AreTheProtocolPorts()
    {
        var (result, up) = Parse<UpCommandDefinition>("up");
        Assert.Empty(result.Errors);
        Assert.Equal(7833, result.GetValue(up.QueenUrl)!.Port);
        Assert.Equal(7835, result.GetValue(up.HivePort));
        Assert.Equal(60, result.GetValue(up.Timeout));
    }

    [Fact]
    public void Down_TakesPortsAndTimeout()
    {
        var (result, down) = Parse<DownCommandDefinition>("down --queen-url http://127.0.0.1:9000 --hive-port 9001 --timeout 5");
        Assert.Empty(result.Errors);
        Assert.Equal((9000, 9001, 5), (result.GetValue(down.QueenUrl)!.Port, result.GetValue(down.HivePort), result.GetValue(down.Timeout)));
    }
}
