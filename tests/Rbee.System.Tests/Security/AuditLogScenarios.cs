using System.Text.Json;
using Rbee.Contracts.Protocol;
using Rbee.SystemTests.Infrastructure;

namespace Rbee.SystemTests.Security;

/// <summary>
/// Issue 14's audit log against the real queen-rbee: a job posted with the cluster token is written with the user the
/// caller claims in <c>X-Rbee-User</c>, labelled as claimed; a name the queen cannot keep as it is (too long) is dropped,
/// and the line still says the token holder acted.
/// </summary>
[Trait("Category", "System")]
[Collection("System")]
public sealed class AuditLogScenarios : IDisposable
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(30);

    private readonly TempHome _home = new();

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task AJobPostedWithTheTokenAndAUserName_IsAuditedAsThatClaimedUser()
    {
        await using var queen = QueenNode.Start(_home.Path);
        await queen.WaitHealthyAsync();

        var (_, end) = await Jobs.RunTimedAsync(queen.Url, """{"operation":"hive_manage","host":"audit-box","want":"stopped"}""", Budget,
            user: "alice@laptop");
        Assert.Equal("[DONE]", end);
        (_, end) = await Jobs.RunTimedAsync(queen.Url, """{"operation":"hive_unmanage","host":"audit-box"}""", Budget,
            user: new string('m', ClaimedUser.MaxLength + 1));
        Assert.Equal("[DONE]", end);

        var path = Path.Combine(_home.Path, ".local", "state", "rbee", "queen", "audit.log");
        var lines = File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        var manage = Assert.Single(lines, l => l.GetProperty("action").GetString() == "manage");
        Assert.Equal("cluster token", manage.GetProperty("actor").GetString());
        Assert.Equal("alice@laptop", manage.GetProperty("claimed_user").GetString());
        Assert.Equal("audit-box", manage.GetProperty("target").GetString());
        var unmanage = Assert.Single(lines, l => l.GetProperty("action").GetString() == "unmanage");
        Assert.Equal("cluster token", unmanage.GetProperty("actor").GetString());
        Assert.False(unmanage.TryGetProperty("claimed_user", out _), $"an over-long name was kept: {unmanage}");
    }
}
