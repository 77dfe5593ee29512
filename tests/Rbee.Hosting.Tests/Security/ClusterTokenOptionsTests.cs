using Rbee.Hosting.Security;

namespace Rbee.Hosting.Tests.Security;

public sealed class ClusterTokenOptionsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-token-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Func<string, string?> Env(string? token) => name => name == "RBEE_CLUSTER_TOKEN" ? token : null;

    [Fact]
    public void NothingConfigured_MeansNoToken()
    {
        var o = new ClusterTokenOptions();
        Assert.Null(o.Resolve(Env(null)));
        Assert.Null(o.Token);
        Assert.False(o.TokenRequired);
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
    public void EnvironmentWinsOverFile()
    {
        var file = Path.Combine(_dir, "token");
        File.WriteAllText(file, "from-file\n");
        var o = new ClusterTokenOptions { ClusterTokenFile = file };
        Assert.Null(o.Resolve(Env("from-env")));
        Assert.Equal("from-env", o.Token);
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
        var problem = new ClusterTokenOptions().Resolve(Env("   "));
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
