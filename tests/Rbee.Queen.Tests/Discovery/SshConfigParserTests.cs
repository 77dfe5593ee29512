using Rbee.Queen.Discovery;

namespace Rbee.Queen.Tests.Discovery;

public sealed class SshConfigParserTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-sshcfg-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string relative, string text)
    {
        var path = Path.Combine(_dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void HostWithHostNameUserAndPort_IsReadWithItsValues()
    {
        var config = SshConfigParser.Parse("""
            Host gpu-box
              HostName 10.0.0.5
              User rbee
              Port 2222
            """);
        var host = Assert.Single(config.Hosts);
        Assert.Equal(("gpu-box", "10.0.0.5", "rbee", (int?)2222), (host.Alias, host.HostName, host.User, host.SshPort));
        Assert.Empty(config.Warnings);
    }

    [Fact]
    public void HostWithoutHostName_IsReachedByItsAlias()
    {
        var host = Assert.Single(SshConfigParser.Parse("Host workstation\n  User me\n").Hosts);
        Assert.Equal("workstation", host.HostName);
    }

    [Fact]
    public void HostLineWithSeveralAliases_GivesOneHostPerAlias()
    {
        var config = SshConfigParser.Parse("Host a b c\n  HostName shared.lan\n");
        Assert.Equal(["a", "b", "c"], config.Hosts.Select(h => h.Alias));
        Assert.All(config.Hosts, h => Assert.Equal("shared.lan", h.HostName));
    }

    [Fact]
    public void WildcardAndNegatedPatterns_NameNoHostButTheirSettingsApply()
    {
        var config = SshConfigParser.Parse("""
            Host *.lan box? !secret
              User wild
            Host real
              HostName 10.0.0.9
            Host *
              User fallback
              HostName ignored-because-first-wins-is-per-alias
            """);
        var host = Assert.Single(config.Hosts);
        Assert.Equal("real", host.Alias);
        Assert.Equal("10.0.0.9", host.HostName);
        Assert.Equal("fallback", host.User);
    }

    [Fact]
    public void FirstValueObtainedWins_LikeSsh()
    {
        var config = SshConfigParser.Parse("Host x\n  HostName first\n  HostName second\nHost x\n  HostName third\n");
        Assert.Equal("first", Assert.Single(config.Hosts).HostName);
    }

    [Fact]
    public void CommentsKeyEqualsValueQuotesAndCase_AreUnderstood()
    {
        var config = SshConfigParser.Parse("""
            # a comment
            HOST=one   # trailing comment
                hostNAME = "10.1.1.1"
                USER="quoted user"

            host two
               hostname=two.lan
            """);
        Assert.Equal(2, config.Hosts.Count);
        Assert.Equal(("one", "10.1.1.1", "quoted user"), (config.Hosts[0].Alias, config.Hosts[0].HostName, config.Hosts[0].User));
        Assert.Equal("two.lan", config.Hosts[1].HostName);
        Assert.Empty(config.Warnings);
    }

    [Fact]
    public void MatchBlock_IsSkippedUntilTheNextHost()
    {
        var config = SshConfigParser.Parse("""
            Match host foo exec "true"
              HostName leaked
              User leaked
            Host after
              Port 22
            """);
        var host = Assert.Single(config.Hosts);
        Assert.Equal(("after", "after", (string?)null), (host.Alias, host.HostName, host.User));
    }

    [Fact]
    public void MalformedLines_GiveWarningsWithFileAndLine_AndTheRestStillCounts()
    {
        var path = Write("config", "Host ok\n  HostName 1.2.3.4\n  Port notanumber\n  User \"unbalanced\nHost\nHost good\n  HostName a b\n");
        var config = SshConfigParser.ReadFile(path);
        Assert.Equal(["ok", "good"], config.Hosts.Select(h => h.Alias));
        Assert.Equal("1.2.3.4", config.Hosts[0].HostName);
        Assert.Equal([3, 4, 5, 7], config.Warnings.Select(w => w.Line));
        Assert.All(config.Warnings, w => Assert.Equal(path, w.File));
        Assert.Contains($"{path}:3:", config.Warnings[0].ToString());
    }

    [Fact]
    public void Include_RelativeToTheConfigDirectory_WithGlob_ReadInSortedOrder()
    {
        Write("config.d/b.conf", "Host from-b\n  HostName 10.0.0.2\n");
        Write("config.d/a.conf", "Host from-a\n  HostName 10.0.0.1\n");
        Write("config.d/ignored.txt", "Host not-included\n");
        Write("single", "Host from-single\n");
        var path = Write("config", "Include config.d/*.conf single missing-file\nHost main\n");
        var config = SshConfigParser.ReadFile(path);
        Assert.Equal(["from-a", "from-b", "from-single", "main"], config.Hosts.Select(h => h.Alias));
        Assert.Equal(4, config.Files.Count);
        Assert.Empty(config.Warnings);
    }

    [Fact]
    public void IncludeLoop_IsCutWithAWarning()
    {
        var path = Write("config", "Include config\nHost h\n");
        var config = SshConfigParser.ReadFile(path);
        Assert.Equal("h", Assert.Single(config.Hosts).Alias);
        Assert.Contains(config.Warnings, w => w.Message.Contains("too deep", StringComparison.Ordinal));
    }

    [Fact]
    public void Targets_AreDeduplicatedByHostNameAndHivePort_WithPerAliasPorts()
    {
        var config = SshConfigParser.Parse("""
            Host a
              HostName 10.0.0.1
            Host a-again
              HostName 10.0.0.1
            Host second-hive
              HostName 10.0.0.1
            Host other
            """);
        var targets = DiscoveryTarget.From(config, new Dictionary<string, int> { ["second-hive"] = 17835 });
        Assert.Equal(
            [("a", "10.0.0.1", 7835), ("second-hive", "10.0.0.1", 17835), ("other", "other", 7835)],
            targets.Select(t => (t.Alias, t.HostName, t.HivePort)));
    }

    [Fact]
    public void UnreadableTopLevelFile_IsAWarningNotACrash()
    {
        var config = SshConfigParser.ReadFile(Path.Combine(_dir, "does-not-exist"));
        Assert.Empty(config.Hosts);
        Assert.Single(config.Warnings);
    }
}
