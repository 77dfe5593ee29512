using System.CommandLine;
using Rbee.Keeper.Cli;

namespace Rbee.Keeper.Tests;

/// <summary>The command tree parsed without starting anything (STYLE.md §7).</summary>
public sealed class CliParserTests
{
    private static (RootCommand Root, GlobalOptions Global) Build()
    {
        var root = RbeeCli.Build(KeeperIo.Plain(TextWriter.Null, TextWriter.Null), out var global);
        return (root, global);
    }

    private static RootCommand Root() => Build().Root;

    private static (ParseResult Result, T Command, GlobalOptions Global) Parse<T>(string line) where T : Command
    {
        var (root, global) = Build();
        var result = root.Parse(line);
        return (result, Assert.IsType<T>(result.CommandResult.Command), global);
    }

    [Fact]
    public void Status_Defaults_ToTheLocalQueen_AndATable()
    {
        var (result, _, g) = Parse<StatusCommandDefinition>("status");
        Assert.Empty(result.Errors);
        Assert.Equal(new Uri("http://localhost:7833"), result.GetValue(g.QueenUrl));
        Assert.False(result.GetValue(g.Json));
    }

    [Theory]
    [InlineData("status --json --queen-url http://10.0.0.2:7833")]
    [InlineData("--json --queen-url http://10.0.0.2:7833 status")]
    [InlineData("--json status --queen-url http://10.0.0.2:7833")]
    public void GlobalOptions_AreAccepted_BeforeOrAfterTheSubcommand(string line)
    {
        var (result, _, g) = Parse<StatusCommandDefinition>(line);
        Assert.Empty(result.Errors);
        Assert.True(result.GetValue(g.Json));
        Assert.Equal(new Uri("http://10.0.0.2:7833"), result.GetValue(g.QueenUrl));
    }

    [Theory]
    [InlineData("status --queen-url ftp://x")]
    [InlineData("status --queen-url not-a-url")]
    [InlineData("up --hive-port 0")]
    [InlineData("up --hive-port 70000")]
    [InlineData("down --timeout 0")]
    [InlineData("status --bogus")]
    [InlineData("nonsense")]
    [InlineData("run")]
    [InlineData("stop")]
    [InlineData("pull")]
    [InlineData("rm")]
    [InlineData("ps extra")]
    [InlineData("ls --hive")]
    [InlineData("run tiny hi --param novalue")]
    [InlineData("logs")]
    [InlineData("logs 8080 -n 10001")]
    [InlineData("logs 8080 -n -1")]
    [InlineData("hive")]
    [InlineData("hive status a b")]
    [InlineData("hive logs --lines many")]
    [InlineData("config")]
    [InlineData("config show extra")]
    [InlineData("status --ssh-config /nonexistent/ssh-config")]
    [InlineData("run tiny hi --param stream=false")]
    public void BadInput_IsAParseError(string line) => Assert.NotEmpty(Root().Parse(line).Errors);

    [Fact]
    public void Up_Defaults_AreTheProtocolPorts()
    {
        var (result, up, g) = Parse<UpCommandDefinition>("up");
        Assert.Empty(result.Errors);
        Assert.Equal(7833, result.GetValue(g.QueenUrl)!.Port);
        Assert.Equal(7835, result.GetValue(up.HivePort));
        Assert.Equal(60, result.GetValue(up.Timeout));
    }

    [Fact]
    public void Down_TakesPortsAndTimeout()
    {
        var (result, down, g) = Parse<DownCommandDefinition>("down --queen-url http://127.0.0.1:9000 --hive-port 9001 --timeout 5");
        Assert.Empty(result.Errors);
        Assert.Equal((9000, 9001, 5), (result.GetValue(g.QueenUrl)!.Port, result.GetValue(down.HivePort), result.GetValue(down.Timeout)));
    }

    [Fact]
    public void Run_TakesAModel_AndJoinsThePromptsWords()
    {
        var (result, run, _) = Parse<RunCommandDefinition>("run tiny why is the sky blue");
        Assert.Empty(result.Errors);
        Assert.Equal("tiny", result.GetValue(run.Model));
        Assert.Equal("why is the sky blue", RbeeCli.Prompt(result.GetValue(run.Prompt)));
    }

    [Fact]
    public void Run_TakesRequestFields()
    {
        var (result, run, _) = Parse<RunCommandDefinition>("run tiny hi -p temperature=0 --param max_tokens=20");
        Assert.Empty(result.Errors);
        Assert.Equal(["temperature=0", "max_tokens=20"], result.GetValue(run.Parameters)!);
    }

    [Fact]
    public void Run_WithoutAPrompt_Chats()
    {
        var (result, run, _) = Parse<RunCommandDefinition>("run tiny");
        Assert.Empty(result.Errors);
        Assert.Null(RbeeCli.Prompt(result.GetValue(run.Prompt)));
    }

    [Fact]
    public void Ps_TakesJson_AfterTheCommand()
    {
        var (result, _, g) = Parse<PsCommandDefinition>("ps --json");
        Assert.Empty(result.Errors);
        Assert.True(result.GetValue(g.Json));
    }

    [Fact]
    public void Stop_TakesAModelOrAWorker()
    {
        var (result, stop, _) = Parse<StopCommandDefinition>("stop gpu-box:8080");
        Assert.Empty(result.Errors);
        Assert.Equal("gpu-box:8080", result.GetValue(stop.Target));
    }

    [Fact]
    public void Pull_TakesASource_AndHivesOrAll()
    {
        var (result, pull, _) = Parse<PullCommandDefinition>("pull org/repo:Q4_K_M --hive a --hive b --name tiny");
        Assert.Empty(result.Errors);
        Assert.Equal("org/repo:Q4_K_M", result.GetValue(pull.Source));
        Assert.Equal(["a", "b"], result.GetValue(pull.Hive)!);
        Assert.Equal("tiny", result.GetValue(pull.ModelName));
        Assert.False(result.GetValue(pull.All));

        var (all, allPull, _) = Parse<PullCommandDefinition>("pull https://x/m.gguf --all");
        Assert.Empty(all.Errors);
        Assert.True(all.GetValue(allPull.All));
    }

    [Fact]
    public void Rm_TakesAModelAndAHive()
    {
        var (result, rm, _) = Parse<RmCommandDefinition>("rm tiny --hive gpu-box");
        Assert.Empty(result.Errors);
        Assert.Equal("tiny", result.GetValue(rm.Model));
        Assert.Equal(["gpu-box"], result.GetValue(rm.Hive)!);
    }

    [Fact]
    public void Ls_HasOllamasListAlias()
    {
        var (result, ls, _) = Parse<LsCommandDefinition>("list --hive a");
        Assert.Empty(result.Errors);
        Assert.Equal("a", result.GetValue(ls.Hive));
    }

    [Fact]
    public void WorkerSpawn_DefaultsToCpu_AndTakesAHive()
    {
        var (result, spawn, _) = Parse<WorkerSpawnCommandDefinition>("worker spawn tiny --hive gpu-box");
        Assert.Empty(result.Errors);
        Assert.Equal(("tiny", "gpu-box", "cpu", null), (result.GetValue(spawn.Model), result.GetValue(spawn.Hive), result.GetValue(spawn.Device), result.GetValue(spawn.WorkerType)));
    }

    [Fact]
    public void WorkerListAndStop_AreParsedAsPsAndStop()
    {
        Assert.Empty(Parse<PsCommandDefinition>("worker list --json").Result.Errors);
        var (result, stop, _) = Parse<StopCommandDefinition>("worker stop gpu-box:8080");
        Assert.Empty(result.Errors);
        Assert.Equal("gpu-box:8080", result.GetValue(stop.Target));
    }

    [Theory]
    [InlineData("completion bash")]
    [InlineData("completion fish")]
    [InlineData("status --watch")]
    [InlineData("config show")]
    [InlineData("hive logs -n 0")]
    [InlineData("logs qwen --json")]
    public void OtherCommands_Parse(string line) => Assert.Empty(Root().Parse(line).Errors);

    [Fact]
    public void Completion_RefusesAnUnknownShell() => Assert.NotEmpty(Root().Parse("completion powershell").Errors);

    [Fact]
    public void Logs_TakesAWorker_LinesAndFollow_AsTailDoes()
    {
        var (result, logs, _) = Parse<LogsCommandDefinition>("logs hive-a:8080 -n 20 -f");
        Assert.Empty(result.Errors);
        Assert.Equal("hive-a:8080", result.GetValue(logs.Worker));
        Assert.Equal(20, result.GetValue(logs.Lines));
        Assert.True(result.GetValue(logs.Follow));
        var (defaults, d, _) = Parse<LogsCommandDefinition>("logs 8080");
        Assert.Equal(100, defaults.GetValue(d.Lines));
        Assert.False(defaults.GetValue(d.Follow));
    }

    [Fact]
    public void HiveStatusAndLogs_TakeAnOptionalHive_AndTheGlobalOptionsAfterThem()
    {
        var (status, s, g) = Parse<HiveStatusCommandDefinition>("hive status --json");
        Assert.Empty(status.Errors);
        Assert.Null(status.GetValue(s.Hive));
        Assert.True(status.GetValue(g.Json));
        var (logs, l, g2) = Parse<HiveLogsCommandDefinition>("hive logs gpu-box --follow --hive-url http://10.0.0.3:7835");
        Assert.Empty(logs.Errors);
        Assert.Equal("gpu-box", logs.GetValue(l.Hive));
        Assert.True(logs.GetValue(l.Follow));
        Assert.Equal(new Uri("http://10.0.0.3:7835"), logs.GetValue(g2.HiveUrl));
    }

    [Fact]
    public void SshConfig_IsAGlobalOption_ThatNamesAFile()
    {
        var file = Path.GetTempFileName();
        try
        {
            var (result, show, g) = Parse<ConfigShowCommandDefinition>($"config show --hive h1 --ssh-config {file}");
            Assert.Empty(result.Errors);
            Assert.Equal("h1", result.GetValue(show.Hive));
            Assert.Equal(file, g.SshConfigPath(result, out var source));
            Assert.Equal("flag --ssh-config", source);
            Assert.Empty(Root().Parse($"--ssh-config {file} up").Errors);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
