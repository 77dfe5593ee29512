using Rbee.Platform.Security;

namespace Rbee.Platform.Tests.Security;

/// <summary>The per-worker key (issue 12 §1): one per worker, derived by hive and queen alike, compared in constant time.</summary>
public sealed class WorkerApiKeyTests
{
    [Fact]
    public void TheKeyIsTheSameWhoeverDerivesIt_AndDiffersPerWorkerHiveAndToken()
    {
        var key = WorkerApiKey.Derive("token", "hive-a", 8080);
        Assert.Matches("^[0-9a-f]{64}$", key);
        Assert.Equal(key, WorkerApiKey.Derive("token", "hive-a", 8080));
        Assert.NotEqual(key, WorkerApiKey.Derive("token", "hive-a", 8081));
        Assert.NotEqual(key, WorkerApiKey.Derive("token", "hive-b", 8080));
        Assert.NotEqual(key, WorkerApiKey.Derive("other", "hive-a", 8080));
        Assert.DoesNotContain("token", key, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Bearer k3y", true)]
    [InlineData("bearer k3y", true)]
    [InlineData(null, false)]
    [InlineData("", false)]
    [InlineData("Bearer ", false)]
    [InlineData("Bearer k3", false)]
    [InlineData("Bearer k3yy", false)]
    [InlineData("Basic k3y", false)]
    [InlineData("k3y", false)]
    public void OnlyTheWholeKeyAsABearerIsAccepted(string? header, bool accepted) =>
        Assert.Equal(accepted, WorkerApiKey.IsPresentedIn(header, "k3y"));
}
