using Rbee.Platform.Security;

namespace Rbee.Platform.Tests.Security;

/// <summary>The one token file of queen, hive and CLI (issue 12 §1): created once, 0600, race-free, never echoed.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ClusterTokenFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-token-file-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void NoFile_IsCreated_With256RandomBitsAsHex_Mode0600_InADirectoryOnlyTheUserMayEnter()
    {
        var path = Path.Combine(_dir, "config", "rbee", "token");
        var result = ClusterTokenFile.ReadOrCreate(path);

        Assert.True(result.Created);
        Assert.Matches("^[0-9a-f]{64}$", result.Token);
        Assert.Equal(result.Token + "\n", File.ReadAllText(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
        // Nothing is left beside it: the temporary file it was linked from is gone.
        Assert.Equal(["token"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
    }

    [Fact]
    public void AnExistingFile_IsReadNotReplaced()
    {
        var path = Path.Combine(_dir, "token");
        File.WriteAllText(path, "  operator-chosen \n");
        var result = ClusterTokenFile.ReadOrCreate(path);
        Assert.False(result.Created);
        Assert.Equal("operator-chosen", result.Token);
        Assert.Equal("  operator-chosen \n", File.ReadAllText(path));
    }

    [Fact]
    public void TwoTokensAreNeverTheSame() =>
        Assert.NotEqual(ClusterTokenFile.ReadOrCreate(Path.Combine(_dir, "a")).Token, ClusterTokenFile.ReadOrCreate(Path.Combine(_dir, "b")).Token);

    [Fact]
    public async Task CreatorsRacing_AllEndWithTheOneTokenInTheFile_AndExactlyOneCreatedIt()
    {
        // Daemons started at once (rbee up starts queen and hive together): whoever loses the link reads the winner's.
        for (var round = 0; round < 20; round++)
        {
            var path = Path.Combine(_dir, $"round-{round}", "token");
            const int racers = 8;
            using var start = new Barrier(racers);
            var results = await Task.WhenAll(Enumerable.Range(0, racers).Select(_ => Task.Factory.StartNew(() =>
            {
                start.SignalAndWait();
                return ClusterTokenFile.ReadOrCreate(path);
            }, TaskCreationOptions.LongRunning)));

            var inFile = File.ReadAllText(path).Trim();
            Assert.All(results, r => Assert.Equal(inFile, r.Token));
            Assert.Single(results, r => r.Created);
            Assert.Equal(["token"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
        }
    }

    [Fact]
    public void AnEmptyFile_IsAProblemNamingThePath_NotAnOpenDoorAndNotReplaced()
    {
        var path = Path.Combine(_dir, "token");
        File.WriteAllText(path, "\n");
        var e = Assert.Throws<ClusterTokenFileException>(() => ClusterTokenFile.ReadOrCreate(path));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("empty", e.Message, StringComparison.Ordinal);
        Assert.Equal("\n", File.ReadAllText(path));
    }

    [Fact]
    public void NoFile_ReadsAsNoToken() => Assert.Null(ClusterTokenFile.Read(Path.Combine(_dir, "absent")));
}
