using Microsoft.Extensions.Configuration;
using Rbee.Platform.Configuration;

namespace Rbee.Platform.Tests.Configuration;

public sealed class DaemonConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class SampleOptions
    {
        public int Port { get; set; }
        public string? Name { get; set; }
        public TimeSpan Interval { get; set; }
    }

    private static readonly DaemonSpec Spec = new(
        "sample", "rbee-sample",
        new Dictionary<string, string> { ["--port"] = "Sample:Port", ["--name"] = "Sample:Name" },
        new Dictionary<string, string> { ["RBEE_SAMPLE_NAME"] = "Sample:Name" },
        new Dictionary<string, string?> { ["Sample:Port"] = "1000", ["Sample:Name"] = "default", ["Sample:Interval"] = "00:00:01" });

    private IConfiguration Build(string[] args, Dictionary<string, string?>? env = null)
    {
        var builder = new ConfigurationBuilder();
        DaemonConfiguration.Apply(builder, Spec, args, name => env is not null && env.TryGetValue(name, out var v) ? v : null);
        return builder.Build();
    }

    private string ConfigFile(string json)
    {
        var path = Path.Combine(_dir, "sample.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Defaults_WhenNothingElseIsGiven()
    {
        var o = OptionsBinding.Bind<SampleOptions>(Build([]), "Sample", static (c, o) => c.Bind(o));
        Assert.Equal(1000, o.Port);
        Assert.Equal("default", o.Name);
        Assert.Equal(TimeSpan.FromSeconds(1), o.Interval);
    }

    [Fact]
    public void ConfigFile_OverridesDefaults_AndFlagsOverrideTheFile()
    {
        var file = ConfigFile("""{ "Sample": { "Port": 2000, "Name": "from-file" } }""");
        var o = OptionsBinding.Bind<SampleOptions>(Build(["--config", file, "--port", "3000"]), "Sample", static (c, o) => c.Bind(o));
        Assert.Equal(3000, o.Port);
        Assert.Equal("from-file", o.Name);
    }

    [Fact]
    public void NamedEnvironmentVariable_OverridesFile_AndFlagOverridesIt()
    {
        var file = ConfigFile("""{ "Sample": { "Name": "from-file" } }""");
        var env = new Dictionary<string, string?> { ["RBEE_SAMPLE_NAME"] = "from-env" };
        Assert.Equal("from-env", OptionsBinding.Bind<SampleOptions>(Build(["--config", file], env), "Sample", static (c, o) => c.Bind(o)).Name);
        Assert.Equal("from-flag", OptionsBinding.Bind<SampleOptions>(Build(["--config", file, "--name=from-flag"], env), "Sample", static (c, o) => c.Bind(o)).Name);
    }

    [Fact]
    public void AnyKey_CanBeGivenAsAFlag()
    {
        var o = OptionsBinding.Bind<SampleOptions>(Build(["--Sample:Interval", "00:00:00.250"]), "Sample", static (c, o) => c.Bind(o));
        Assert.Equal(TimeSpan.FromMilliseconds(250), o.Interval);
    }

    [Fact]
    public void UnknownFlag_IsAStartupErrorNamingIt()
    {
        var e = Assert.Throws<StartupException>(() => Build(["--prot", "1"]));
        Assert.Contains("--prot", e.Message);
    }

    [Fact]
    public void FlagWithoutValue_IsAStartupError() =>
        Assert.Contains("--port", Assert.Throws<StartupException>(() => Build(["--port"])).Message);

    [Fact]
    public void StrayArgument_IsAStartupError() =>
        Assert.Throws<StartupException>(() => Build(["7835"]));

    [Fact]
    public void MissingConfigFile_IsAStartupErrorNamingIt()
    {
        var path = Path.Combine(_dir, "nope.json");
        Assert.Contains(path, Assert.Throws<StartupException>(() => Build(["--config", path])).Message);
    }

    [Fact]
    public void BrokenConfigFile_IsAStartupError()
    {
        var file = ConfigFile("{ \"Sample\": ");
        Assert.Contains(file, Assert.Throws<StartupException>(() => Build(["--config", file])).Message);
    }

    [Fact]
    public void ValueOfTheWrongType_IsAStartupErrorNamingTheKey()
    {
        var e = Assert.Throws<StartupException>(() => OptionsBinding.Bind<SampleOptions>(Build(["--port", "many"]), "Sample", static (c, o) => c.Bind(o)));
        Assert.Contains("Port", e.Message);
    }

    [Fact]
    public void Validator_TurnsIntoAStartupError()
    {
        var e = Assert.Throws<StartupException>(() =>
            OptionsBinding.Bind<SampleOptions>(Build(["--port", "0"]), "Sample", static (c, o) => c.Bind(o), o => o.Port is < 1 or > 65535 ? "Sample:Port must be 1-65535" : null));
        Assert.Equal("Sample:Port must be 1-65535", e.Message);
    }

    [Fact]
    public void Help_ListsEveryFlag()
    {
        var help = DaemonConfiguration.Help(Spec);
        Assert.Contains("--port", help);
        Assert.Contains("--config", help);
        Assert.Contains("--cluster-token-file", help);
    }
}
