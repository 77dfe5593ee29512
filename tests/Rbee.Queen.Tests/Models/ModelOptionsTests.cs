using Microsoft.Extensions.Configuration;
using Rbee.Platform.Configuration;
using Rbee.Queen.Models;

namespace Rbee.Queen.Tests.Models;

/// <summary>Section <c>Models</c> at the queen: aliases checked with the hives' own source parser at start-up.</summary>
public sealed class ModelOptionsTests
{
    private static ModelOptions Bind(params string[] args)
    {
        var builder = new ConfigurationBuilder();
        DaemonConfiguration.Apply(builder, QueenProgram.Spec, args, _ => null);
        return OptionsBinding.Bind<ModelOptions>(builder.Build(), ModelOptions.SectionName, static (c, o) => c.Bind(o), o => o.Validate());
    }

    [Fact]
    public void Defaults_PullNothing_AndAllowAnHourForAPull()
    {
        var o = Bind();
        Assert.Empty(o.Aliases);
        Assert.False(o.PullOnDemand);
        Assert.Equal(TimeSpan.FromHours(1), o.PullTimeout);
    }

    [Fact]
    public void AliasesAndPullOnDemand_Bind()
    {
        var o = Bind("--Models:Aliases:tinyllama", "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M",
            "--Models:Aliases:qwen", "https://example.com/q/qwen2-0.5b.Q8_0.gguf#sha256=" + new string('a', 64),
            "--Models:PullOnDemand", "true", "--Models:PullTimeout", "00:10:00");
        Assert.Equal("TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M", o.Aliases["tinyllama"]);
        Assert.Equal(2, o.Aliases.Count);
        Assert.True(o.PullOnDemand);
        Assert.Equal(TimeSpan.FromMinutes(10), o.PullTimeout);
    }

    [Theory]
    [InlineData("--Models:Aliases:tiny", "TheBloke/TinyLlama", "Models:Aliases:tiny: 'TheBloke/TinyLlama' names a repository but no file")]
    [InlineData("--Models:Aliases:tiny", "org/repo:Q4_K_M#md5=1", "Models:Aliases:tiny: '#md5=1' is not a digest")]
    [InlineData("--Models:Aliases:.hidden", "org/repo:m.gguf", "Models:Aliases:.hidden: an alias is a model id")]
    [InlineData("--Models:Aliases:tiny", "", "Models:Aliases:tiny: the model source is empty")]
    [InlineData("--Models:PullTimeout", "0", "Models:PullTimeout must be positive")]
    public void ABadAliasOrTimeout_StopsStartUp_NamingTheSetting(string flag, string value, string message)
    {
        var e = Assert.Throws<StartupException>(() => Bind(flag, value));
        Assert.StartsWith(message, e.Message);
    }
}
