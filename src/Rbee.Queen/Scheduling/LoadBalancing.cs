namespace Rbee.Queen.Scheduling;

/// <summary>One ready worker that could take a request now, as the policies see it.</summary>
/// <param name="FreeMemoryBytes">Free memory of the worker's device (RAM for <c>cpu</c>, VRAM for <c>cuda:N</c>); null when unmeasured.</param>
public sealed record WorkerCandidate(WorkerKey Key, string Url, string? Device, int InFlight, long? FreeMemoryBytes);

/// <summary>Names of the load-balancing policies (<see cref="SchedulingOptions.Policy"/>).</summary>
public static class LoadBalancingPolicies
{
    public const string LeastRequests = "least_requests";
    public const string PowerOfTwoChoices = "power_of_two_choices";

    public static ILoadBalancingPolicy Create(string name) => name switch
    {
        PowerOfTwoChoices => new PowerOfTwoChoicesPolicy(Random.Shared),
        _ => new LeastRequestsPolicy(),
    };
}

/// <summary>Picks the worker for one request among ready candidates (STYLE.md §2: YARP's <c>ILoadBalancingPolicy</c>).</summary>
public interface ILoadBalancingPolicy
{
    string Name { get; }

    /// <summary>The chosen candidate, or null when the list is empty.</summary>
    WorkerCandidate? Pick(IReadOnlyList<WorkerCandidate> candidates);
}

/// <summary>
/// The default (DESIGN.md "Scheduling and routing"): fewest requests in flight, counted by the queen itself; among
/// equals, the most free memory on the worker's device (a device under less pressure answers faster and is less likely
/// to be the one that runs out). Free memory that differs by less than <see cref="SameMemory"/> is the same (two hives
/// on one machine, or readings a frame apart, must not make one of them win every tie), and such ties rotate, so equal
/// workers take turns when requests come one after another. Unmeasured memory ranks below any measured value.
/// </summary>
public sealed class LeastRequestsPolicy : ILoadBalancingPolicy
{
    /// <summary>Free memory closer than this (256 MiB or 5 %, whichever is larger) counts as equal.</summary>
    public static long SameMemory(long bytes) => Math.Max(256L << 20, bytes / 20);

    private int _turn;

    public string Name => LoadBalancingPolicies.LeastRequests;

    public WorkerCandidate? Pick(IReadOnlyList<WorkerCandidate> candidates)
    {
        if (candidates.Count == 0) return null;
        var fewest = int.MaxValue;
        long most = -1;
        foreach (var c in candidates)
        {
            if (c.InFlight < fewest) { fewest = c.InFlight; most = -1; }
            if (c.InFlight == fewest && (c.FreeMemoryBytes ?? -1) > most) most = c.FreeMemoryBytes ?? -1;
        }
        // The candidates as good as the best: fewest in flight, free memory within the margin of the most.
        var margin = most < 0 ? 0 : SameMemory(most);
        var tied = 0;
        foreach (var c in candidates)
            if (IsBest(c, fewest, most, margin)) tied++;
        var pick = (int)((uint)Interlocked.Increment(ref _turn) % (uint)tied);
        foreach (var c in candidates)
            if (IsBest(c, fewest, most, margin) && pick-- == 0) return c;
        return null;
    }

    private static bool IsBest(WorkerCandidate c, int fewest, long most, long margin) =>
        c.InFlight == fewest && (most < 0 ? c.FreeMemoryBytes is null : c.FreeMemoryBytes is { } f && most - f <= margin);
}

/// <summary>
/// Picks two candidates at random and takes the one with fewer requests in flight. Scanning the whole list for the
/// minimum makes every queen (or every burst arriving together) pick the same worker; two random choices keep nearly
/// all of the benefit while spreading simultaneous picks (Mitzenmacher; YARP's default).
/// </summary>
public sealed class PowerOfTwoChoicesPolicy(Random random) : ILoadBalancingPolicy
{
    public string Name => LoadBalancingPolicies.PowerOfTwoChoices;

    public WorkerCandidate? Pick(IReadOnlyList<WorkerCandidate> candidates)
    {
        switch (candidates.Count)
        {
            case 0: return null;
            case 1: return candidates[0];
        }
        var first = random.Next(candidates.Count);
        var second = random.Next(candidates.Count - 1);
        if (second >= first) second++;
        var (a, b) = (candidates[first], candidates[second]);
        return b.InFlight < a.InFlight ? b : a;
    }
}
