using Microsoft.Extensions.Configuration;
using Rbee.Platform.Configuration;
using Rbee.Queen.Configuration;
using Rbee.Queen.Scheduling;

namespace Rbee.Queen.Tests.Configuration;

public sealed class QueenOptionsTests
{
    private static QueenOptions Bind(params string[] args)
    {
        var builder = new ConfigurationBuilder();
        DaemonConfiguration.Apply(builder, QueenProgram.Spec, args, _ => null);
        return OptionsBinding.Bind<QueenOptions>(builder.Build(), QueenOptions.SectionName, static (c, o) => c.Bind(o), o => o.Validate());
    }

    [Fact]
    public void Defaults_AreTheProtocolConstants()
    {
        var o = new QueenOptions();
        Assert.Null(o.Validate());
        Assert.Equal(7833, o.Port);
        Assert.Equal(TimeSpan.FromSeconds(5), o.SettleDelay);
        Assert.Equal((TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60)), (o.ProbeBackoffInitial, o.ProbeBackoffMax));
        Assert.Equal("~/.ssh/config", o.SshConfigPath);
    }

    [Fact]
    public void Flags_AndPerAliasHivePorts_Bind()
    {
        var o = Bind("--port", "9833", "--advertise-url", "http://10.0.0.2:9833", "--ssh-config", "/tmp/cfg",
            "--settle-delay", "00:00:00", "--Queen:HivePorts:local-hive=17835");
        Assert.Equal(9833, o.Port);
        Assert.Equal("http://10.0.0.2:9833", o.AdvertiseUrl);
        Assert.Equal("/tmp/cfg", o.ResolvedSshConfigPath);
        Assert.Equal(TimeSpan.Zero, o.SettleDelay);
        Assert.Equal(17835, o.HivePorts["local-hive"]);
    }

    [Theory]
    [InlineData("--port", "70000", "Queen:Port")]
    [InlineData("--advertise-url", "ftp://x", "Queen:AdvertiseUrl")]
    [InlineData("--bind", "not-an-ip", "Queen:Bind")]
    [InlineData("--Queen:ProbeBackoffMax", "00:00:01", "Queen:ProbeBackoffInitial")]
    [InlineData("--Queen:HivePorts:x", "0", "Queen:HivePorts:x")]
    public void BadValues_FailStartUp_NamingTheSetting(string flag, string value, string named)
    {
        var e = Assert.Throws<StartupException>(() => Bind(flag, value));
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void SchedulingWorkerTypes_Configured_ReplaceTheDefault()
    {
        var builder = new ConfigurationBuilder();
        DaemonConfiguration.Apply(builder, QueenProgram.Spec, ["--Scheduling:WorkerTypes:0", "vllm", "--Scheduling:WorkerTypes:1", "llm"], _ => null);
        var o = OptionsBinding.Bind<SchedulingOptions>(builder.Build(), SchedulingOptions.SectionName, SchedulingOptions.BindFrom, o => o.Validate());
        Assert.Equal(["vllm", "llm"], o.WorkerTypes);
        Assert.Equal(["llm"], OptionsBinding.Bind<SchedulingOptions>(new ConfigurationBuilder().Build(), SchedulingOptions.SectionName, SchedulingOptions.BindFrom).WorkerTypes);
    }
}
