using Rbee.Queen.Scheduling;

namespace Rbee.Queen.Tests.Scheduling;

public sealed class PoliciesTests
{
    private static WorkerCandidate C(int port, int inFlight, long? free = null) => new(new WorkerKey("h", port, port), $"http://h:{port}", "cpu", inFlight, free);

    private const long GiB = 1L << 30;

    [Fact]
    public void LeastRequests_PicksFewestInFlight_ThenMostFreeMemory()
    {
        var policy = new LeastRequestsPolicy();
        Assert.Equal(8081, policy.Pick([C(8080, 3, 100 * GiB), C(8081, 1, GiB), C(8082, 2, 500 * GiB)])!.Key.Port);
        Assert.Equal(8082, policy.Pick([C(8080, 1, 4 * GiB), C(8081, 1, null), C(8082, 1, 8 * GiB)])!.Key.Port);
        // Unmeasured memory ranks below any measured value.
        Assert.Equal(8080, policy.Pick([C(8081, 0, null), C(8080, 0, 0)])!.Key.Port);
        Assert.Null(policy.Pick([]));
    }

    [Fact]
    public void LeastRequests_EqualWorkersTakeTurns_WhenRequestsComeOneAfterAnother()
    {
        var policy = new LeastRequestsPolicy();
        // Two hives on one machine report the same RAM a few MiB apart: that is a tie, not a winner.
        var picks = Enumerable.Range(0, 10).Select(_ => policy.Pick([C(8080, 0, 8 * GiB), C(8081, 0, 8 * GiB - (3 << 20))])!.Key.Port).ToList();
        Assert.Equal(5, picks.Count(p => p == 8080));
        Assert.Equal(5, picks.Count(p => p == 8081));
        // A real difference in free memory still decides.
        Assert.All(Enumerable.Range(0, 4), _ => Assert.Equal(8081, policy.Pick([C(8080, 0, 2 * GiB), C(8081, 0, 8 * GiB)])!.Key.Port));
    }

    [Fact]
    public void PowerOfTwoChoices_NeverPicksTheBusierOfItsTwo_AndSpreadsEqualLoad()
    {
        var policy = new PowerOfTwoChoicesPolicy(new Random(42));
        Assert.Equal(8080, policy.Pick([C(8080, 0)])!.Key.Port);
        // With two candidates both are always drawn, so the less busy one must win every time.
        for (var i = 0; i < 100; i++) Assert.Equal(8081, policy.Pick([C(8080, 5), C(8081, 1)])!.Key.Port);
        var counts = new int[3];
        for (var i = 0; i < 3000; i++) counts[policy.Pick([C(8080, 0), C(8081, 0), C(8082, 0)])!.Key.Port - 8080]++;
        Assert.All(counts, c => Assert.InRange(c, 800, 1200));
    }

    [Fact]
    public void Policies_AreChosenByName()
    {
        Assert.IsType<LeastRequestsPolicy>(LoadBalancingPolicies.Create("least_requests"));
        Assert.IsType<PowerOfTwoChoicesPolicy>(LoadBalancingPolicies.Create("power_of_two_choices"));
        Assert.Contains("Scheduling:Policy", new SchedulingOptions { Policy = "round_robin" }.Validate());
        Assert.Null(new SchedulingOptions().Validate());
    }

    [Fact]
    public void Placement_TakesTheDeviceWithMostFreeMemoryThatFits()
    {
        var placement = new MostFreeMemoryPlacement();
        DeviceCandidate D(string hive, long? free, long need = 4 * TestCluster.GiB) => new(hive, "cpu", "llm", free, need);
        Assert.Equal("b", placement.Place([D("a", 5 * TestCluster.GiB), D("b", 9 * TestCluster.GiB), D("c", 3 * TestCluster.GiB)])!.HiveId);
        // Nothing measured fits: nothing is chosen, and the message names the need and the best that was free.
        var tooSmall = new[] { D("a", 3 * TestCluster.GiB, 5 * TestCluster.GiB + TestCluster.GiB / 10), D("gpu-box", (long)(3.2 * TestCluster.GiB), 5 * TestCluster.GiB + TestCluster.GiB / 10) };
        Assert.Null(placement.Place(tooSmall));
        Assert.Equal("model 'm' needs 5.1 GiB; largest free 3.2 GiB on gpu-box cpu", MostFreeMemoryPlacement.NothingFits("m", tooSmall));
        // A hive that cannot measure its memory is used only when no measured device fits.
        Assert.Equal("u", placement.Place([D("a", TestCluster.GiB), D("u", null)])!.HiveId);
        Assert.Equal("a", placement.Place([D("u", null), D("a", 6 * TestCluster.GiB)])!.HiveId);
    }
}
