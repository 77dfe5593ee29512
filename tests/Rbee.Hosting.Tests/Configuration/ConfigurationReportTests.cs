using Microsoft.Extensions.Configuration;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Configuration;
using Rbee.Platform.Configuration;

namespace Rbee.Hosting.Tests.Configuration;

public sealed class ConfigurationReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly DaemonSpec Spec = new("hive", "rbee-hive",
        new Dictionary<string, string> { ["--port"] = "Hive:Port" },
        EnvironmentAliases: new Dictionary<string, string> { ["RBEE_QUEEN_URL"] = "Hive:QueenUrl" },
        Defaults: new Dictionary<string, string?> { ["Hive:Bind"] = "0.0.0.0" });

    [Fact]
    public void EachValueNamesTheSourceThatWon_AndSecretsAreMasked()
    {
        var file = Path.Combine(_dir, "hive.json");
        File.WriteAllText(file, """{ "Hive": { "Port": 7000, "Name": "from-file" }, "ClusterToken": "s3cret", "Api": { "KeysFile": "/etc/keys" } }""");
        var builder = new ConfigurationManager();
        DaemonConfiguration.Apply(builder, Spec, ["--config", file, "--port", "7001"], new Dictionary<string, string?>
        {
            ["RBEE_Hive__Name"] = "from-env",
            ["RBEE_QUEEN_URL"] = "http://q:7833",
        });

        var report = ConfigurationReport.Build(builder, Spec);
        var entries = report.Entries.ToDictionary(e => e.Key);

        Assert.Equal("rbee-hive", report.Program);
        Assert.Equal(file, report.ConfigFile);
        Assert.Equal(new ConfigEntry("Hive:Bind", "0.0.0.0", "default"), entries["Hive:Bind"]);
        Assert.Equal(new ConfigEntry("Hive:Port", "7001", "flag"), entries["Hive:Port"]);
        Assert.Equal(new ConfigEntry("Hive:Name", "from-env", "env RBEE_Hive__Name"), entries["Hive:Name"]);
        Assert.Equal(new ConfigEntry("Hive:QueenUrl", "http://q:7833", "env RBEE_QUEEN_URL"), entries["Hive:QueenUrl"]);
        Assert.Equal(new ConfigEntry("ClusterToken", ConfigEntry.Masked, "file " + file), entries["ClusterToken"]);
        // A path to a secret is not the secret.
        Assert.Equal("/etc/keys", entries["Api:KeysFile"].Value);
        Assert.DoesNotContain(report.Entries, e => e.Value == "s3cret");
    }

    [Theory]
    [InlineData("ClusterToken", true)]
    [InlineData("CLUSTER_TOKEN", true)]
    [InlineData("Api:Keys", true)]
    [InlineData("Api:Keys:0", true)]
    [InlineData("Downloads:HfToken", true)]
    [InlineData("ClusterTokenFile", false)]
    [InlineData("Api:KeysFile", false)]
    [InlineData("Hive:Port", false)]
    public void SecretKeys(string key, bool secret) => Assert.Equal(secret, ConfigurationReport.IsSecret(key));
}
