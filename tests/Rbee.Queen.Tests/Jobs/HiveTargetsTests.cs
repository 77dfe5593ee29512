using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Queen.Jobs;
using Rbee.Queen.Tests.Scheduling;

namespace Rbee.Queen.Tests.Jobs;

/// <summary><c>hive_id</c> of the queen's model jobs: one id, a list, or "*", checked on the job's face.</summary>
public sealed class HiveTargetsTests
{
    private readonly TestCluster _cluster = new TestCluster()
        .Hive("a").Hive("b").Hive("sick", state: HiveState.Degraded).Hive("gone", state: HiveState.Offline);

    private IReadOnlyList<string>? Read(string json, out JobPlan invalid) =>
        HiveTargets.Read(QueenWithHives.Request(json), _cluster.Snapshot, JobOperations.ModelDownload, out invalid);

    [Theory]
    [InlineData("""{"hive_id":"b"}""", new[] { "b" })]
    [InlineData("""{"hive_id":"gone"}""", new[] { "gone" })] // a known hive named by id is the job's to judge when it runs
    [InlineData("""{"hive_id":["b","a","b"]}""", new[] { "b", "a" })]
    [InlineData("""{"hive_id":"*"}""", new[] { "a", "b" })] // online hives only
    public void AnId_AList_OrStar_NameTheirHives(string json, string[] expected)
    {
        Assert.Equal(expected, Read(json, out _));
    }

    [Theory]
    [InlineData("""{}""", "missing_field")]
    [InlineData("""{"hive_id":null}""", "missing_field")]
    [InlineData("""{"hive_id":7}""", "invalid_job")]
    [InlineData("""{"hive_id":{"id":"a"}}""", "invalid_job")]
    [InlineData("""{"hive_id":[]}""", "invalid_job")]
    [InlineData("""{"hive_id":["a",3]}""", "invalid_job")]
    [InlineData("""{"hive_id":["a",""]}""", "invalid_job")]
    [InlineData("""{"hive_id":["*"]}""", "invalid_job")]
    [InlineData("""{"hive_id":"\ud800"}""", "invalid_job")] // not text: was a 500
    [InlineData("""{"hive_id":["a","\ud800"]}""", "invalid_job")]
    [InlineData("""{"hive_id":"nope"}""", "hive_not_found")]
    [InlineData("""{"hive_id":["a","nope"]}""", "hive_not_found")]
    public void AMissingIllTypedEmptyOrUnknownHiveId_Is400NamingTheField(string json, string code)
    {
        Assert.Null(Read(json, out var invalid));
        Assert.Null(invalid.Work);
        Assert.Equal(("hive_id", code), (invalid.Param, invalid.Code));
        Assert.Contains("hive", invalid.Error);
    }

    [Fact]
    public void AnUnknownHive_IsNamedInTheMessage()
    {
        Read("""{"hive_id":["a","nope","nix"]}""", out var invalid);
        Assert.Equal("the queen knows no hive 'nope', 'nix' (see GET /v1/cluster)", invalid.Error);
    }

    [Fact]
    public void Star_WithNoOnlineHive_Is400()
    {
        var offline = new TestCluster().Hive("x", state: HiveState.Offline);
        Assert.Null(HiveTargets.Read(QueenWithHives.Request("""{"hive_id":"*"}"""), offline.Snapshot, JobOperations.ModelDownload, out var invalid));
        Assert.Equal(("hive_id", "no_online_hive"), (invalid.Param, invalid.Code));
    }

    [Fact]
    public void Star_NarrowedByTheOperation_SaysWhyNoneMatched()
    {
        var targets = HiveTargets.Read(QueenWithHives.Request("""{"hive_id":"*"}"""), _cluster.Snapshot, JobOperations.ModelDelete, out var invalid,
            every: h => h.HiveId == "b");
        Assert.Equal(["b"], targets);
        Assert.Null(HiveTargets.Read(QueenWithHives.Request("""{"hive_id":"*"}"""), _cluster.Snapshot, JobOperations.ModelDelete, out invalid,
            every: _ => false, everyNone: "no online hive lists the model 'm'"));
        Assert.Equal("no online hive lists the model 'm'", invalid.Error);
    }
}
