using Rbee.Hosting.Security;

namespace Rbee.Hosting.Tests.Security;

public sealed class ClusterTokenOptionsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-token-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Func<string, string?> Env(string? token) => name => name == "RBEE_CLUSTER_TOKEN" ? token : null;

    [Fact]
    public void NothingConfigured_CreatesTheSharedTokenFile_AndTheNextStartReadsIt()
    {
        var shared = Path.Combine(_dir, "config", "rbee", "token");
        var first = new ClusterTokenOptions();
        Assert.Null(first.Resolve(Env(null), shared));
        Assert.Matches("^[0-9a-f]{64}$", first.Token);
        Assert.True(first.TokenRequired);
        Assert.Equal(shared, first.CreatedFile);
        Assert.Equal(shared, first.Source);

        var second = new ClusterTokenOptions();
        Assert.Null(second.Resolve(Env(null), shared));
        Assert.Equal(first.Token, second.Token);
        Assert.Null(second.CreatedFile);
    }

    [Fact]
    public void EnvironmentWinsOverTheSharedFile_WhichIsThenNeitherReadNorCreated()
    {
        var shared = Path.Combine(_dir, "config", "rbee", "token");
        var o = new ClusterTokenOptions();
        Assert.Null(o.Resolve(Env("from-env"), shared));
        Assert.Equal("from-env", o.Token);
        Assert.False(File.Exists(shared));
    }

    [Fact]
    public void TheSharedFileIsReadWhenNothingElseIsSet()
    {
        var shared = Path.Combine(_dir, "token");
        File.WriteAllText(shared, "from-shared-file\n");
        var o = new ClusterTokenOptions();
        Assert.Null(o.Resolve(Env(null), shared));
        Assert.Equal("from-shared-file", o.Token);
    }

    [Fact]
    public void ConfigWinsOverEnvironmentAndFile()
    {
        var file = Path.Combine(_dir, "token");
        File.WriteAllText(file, "from-file\n");
        var o = new ClusterTokenOptions { ClusterToken = "from-config", ClusterTokenFile = file };
        Assert.Null(o.Resolve(Env("from-env")));
        Assert.Equal("from-config", o.Token);
    }

    [Fact]
    public void AConfiguredFileWinsOverTheEnvironment()
    {
        // Precedence (issue 12): configuration (ClusterToken, ClusterTokenFile), then RBEE_CLUSTER_TOKEN, then the shared file.
        var file = Path.Combine(_dir, "token");
        File.WriteAllText(file, "from-file\n");
        var o = new ClusterTokenOptions { ClusterTokenFile = file };
        Assert.Null(o.Resolve(Env("from-env")));
        Assert.Equal("from-file", o.Token);
    }

    [Fact]
    public void FileIsTrimmed()
    {
        var file = Path.Combine(_dir, "token");
        File.WriteAllText(file, "  from-file \n");
        var o = new ClusterTokenOptions { ClusterTokenFile = file };
        Assert.Null(o.Resolve(Env(null)));
        Assert.Equal("from-file", o.Token);
    }

    [Fact]
    public void MissingFile_IsAProblemThatNamesThePath()
    {
        var file = Path.Combine(_dir, "absent");
        var problem = new ClusterTokenOptions { ClusterTokenFile = file }.Resolve(Env(null));
        Assert.NotNull(problem);
        Assert.Contains(file, problem);
    }

    [Fact]
    public void BlankEnvironmentToken_IsAProblemAndNotAnOpenDoor()
    {
        var problem = new ClusterTokenOptions().Resolve(Env("   "), Path.Combine(_dir, "unused"));
        Assert.Contains("RBEE_CLUSTER_TOKEN", problem);
    }

    [Fact]
    public void Problems_NeverContainTheToken()
    {
        var file = Path.Combine(_dir, "empty");
        File.WriteAllText(file, "\n");
        var problem = new ClusterTokenOptions { ClusterTokenFile = file }.Resolve(Env(null));
        Assert.NotNull(problem);
        Assert.Contains("empty", problem);
    }
}
