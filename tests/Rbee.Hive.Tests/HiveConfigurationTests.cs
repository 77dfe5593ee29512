using Microsoft.Extensions.Configuration;
using Rbee.Platform.Configuration;

namespace Rbee.Hive.Tests;

/// <summary>rbee-hive's flags and named environment variables reach <see cref="HiveOptions"/> (STYLE.md §5).</summary>
public class HiveConfigurationTests
{
    private static HiveOptions Bind(string[] args, Dictionary<string, string?>? env = null)
    {
        var builder = new ConfigurationBuilder();
        DaemonConfiguration.Apply(builder, HiveApp.Spec, args, name => env is not null && env.TryGetValue(name, out var v) ? v : null);
        return OptionsBinding.Bind<HiveOptions>(builder.Build(), HiveOptions.SectionName, static (c, o) => c.Bind(o), o => o.Validate());
    }

    [Fact]
    public void FriendlyFlags_SetTheHiveOptions()
    {
        var o = Bind(["--port", "17835", "--bind", "127.0.0.1", "--hive-id", "hive-b", "--queen-url", "http://10.0.0.2:7833",
            "--advertise-url", "http://10.0.0.5:17835", "--cgroup-root", "rbee-b.slice", "--stop-workers-on-exit", "false"]);
        Assert.Equal(17835, o.Port);
        Assert.Equal("127.0.0.1", o.BindAddress);
        Assert.Equal("hive-b", o.HiveId);
        Assert.Equal("http://10.0.0.2:7833", o.QueenUrl);
        Assert.Equal("http://10.0.0.5:17835", o.AdvertiseUrl);
        Assert.Equal("rbee-b.slice", o.CgroupRoot);
        Assert.False(o.StopWorkersOnExit);
    }

    [Fact]
    public void QueenUrlFromRBEE_QUEEN_URL_AndTheFlagWins()
    {
        var env = new Dictionary<string, string?> { ["RBEE_QUEEN_URL"] = "http://queen.lan:7833" };
        Assert.Equal("http://queen.lan:7833", Bind([], env).QueenUrl);
        Assert.Equal("http://other:7833", Bind(["--queen-url", "http://other:7833"], env).QueenUrl);
    }

    [Fact]
    public void InvalidFlagValue_IsAStartupErrorNamingTheFlag()
    {
        var e = Assert.Throws<StartupException>(() => Bind(["--queen-url", "queen:7833"]));
        Assert.Contains("--queen-url", e.Message);
    }
}
