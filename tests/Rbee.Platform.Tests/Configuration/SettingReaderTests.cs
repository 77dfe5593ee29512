using Microsoft.Extensions.Configuration;
using Rbee.Platform.Configuration;

namespace Rbee.Platform.Tests.Configuration;

public sealed class SettingReaderTests
{
    private static readonly DaemonSpec Spec = new("tool", "rbee-tool",
        new Dictionary<string, string> { ["--size"] = "Tool:Size", ["--name"] = "Tool:Name" },
        new Dictionary<string, string> { ["RBEE_TOOL_NAME"] = "Tool:Name" },
        ServerFlags: false);

    private static SettingReader Read(string[] args, Dictionary<string, string?> env)
    {
        var builder = new ConfigurationBuilder();
        DaemonConfiguration.Apply(builder, Spec, args, env);
        return new SettingReader(builder.Build(), "Tool", Spec.FlagAliases);
    }

    [Fact]
    public void Layers_DefaultsEnvironmentNamedVariablesFlags_LaterWins()
    {
        var env = new Dictionary<string, string?> { ["RBEE_Tool__Size"] = "5", ["RBEE_Tool__Name"] = "a", ["RBEE_TOOL_NAME"] = "b", ["OTHER"] = "x" };
        Assert.Equal((5, "b"), (Read([], env).Int("Size", 0, 10), Read([], env).String("Name")));
        Assert.Equal((7, "c"), (Read(["--size", "7", "--name=c"], env).Int("Size", 0, 10), Read(["--size", "7", "--name=c"], env).String("Name")));
        Assert.Null(Read([], []).Int("Size", 0, 10));
    }

    [Theory]
    [InlineData("x", "--size must be an integer, got 'x'")]
    [InlineData("11", "--size must be between 0 and 10, got 11")]
    public void Problems_NameTheFlag(string value, string expected)
    {
        var e = Assert.Throws<StartupException>(() => Read(["--size", value], []).Int("Size", 0, 10));
        Assert.Equal(expected, e.Message);
    }

    [Fact]
    public void KeysWithoutAFlag_AreNamedByTheirPath()
    {
        var e = Assert.Throws<StartupException>(() => Read(["--Tool:Depth", " "], []).String("Depth"));
        Assert.Equal("Tool:Depth must not be empty", e.Message);
        Assert.Equal("--name PATH is required", Assert.Throws<StartupException>(() => Read([], []).Required("Name", "PATH")).Message);
    }

    [Fact]
    public void WithoutServerFlags_OnlyConfigIsCommon()
    {
        Assert.Equal(["--config"], Spec.Common.Select(f => f.Key));
        Assert.Throws<StartupException>(() => Read(["--log-level", "Debug"], []));
        Assert.Contains("--cluster-token-file", new DaemonSpec("d", "d", new Dictionary<string, string>()).Common.Select(f => f.Key));
    }
}
