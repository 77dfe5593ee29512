using Rbee.Contracts.Wire;
using Rbee.Queen.Cluster;
using static Rbee.Queen.Tests.Cluster.ClusterFixtures;

namespace Rbee.Queen.Tests.Cluster;

/// <summary><see cref="ClusterRegistry.WaitForAsync"/>: the scheduler's way to await a condition on the view (no polling).</summary>
public sealed class WaitForTests
{
    private readonly Microsoft.Extensions.Time.Testing.FakeTimeProvider _clock = Clock();
    private readonly ClusterRegistry _registry;

    public WaitForTests() => _registry = Registry(_clock);

    private static bool WorkerReady(ClusterSnapshot s) => s.FindWorker(HiveId, 8080) is { State: WorkerStates.Ready };

    [Fact]
    public async Task AlreadyTrue_CompletesTrueAtOnce()
    {
        _registry.Ready(Ready(), HiveUrl);
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080)));
        var wait = _registry.WaitForAsync(WorkerReady, TimeSpan.FromSeconds(1), CancellationToken.None);
        Assert.True(wait.IsCompletedSuccessfully);
        Assert.True(await wait);
    }

    [Fact]
    public async Task BecomesTrue_CompletesTrue_WithTheSwapThatMadeItTrue()
    {
        _registry.Ready(Ready(), HiveUrl);
        var evaluated = 0;
        var wait = _registry.WaitForAsync(s => { evaluated++; return WorkerReady(s); }, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.False(wait.IsCompleted);
        _registry.ApplyFrame(Frame(0, "i1", Worker(8080, WorkerStates.Starting)));
        // Each swap wakes the waiter once; it looks again and waits on.
        _registry.ApplyFrame(Frame(1, "i1", Worker(8080, WorkerStates.Ready)));
        Assert.True(await wait.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.InRange(evaluated, 3, 4);
    }

    [Fact]
    public async Task TimeoutOnTheRegistrysClock_CompletesFalse()
    {
        _registry.Ready(Ready(), HiveUrl);
        var wait = _registry.WaitForAsync(WorkerReady, TimeSpan.FromSeconds(5), CancellationToken.None);
        _clock.Advance(TimeSpan.FromMilliseconds(4999));
        _registry.ApplyFrame(Frame(0));
        Assert.False(wait.IsCompleted);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(await wait.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Cancellation_Throws()
    {
        using var cts = new CancellationTokenSource();
        var wait = _registry.WaitForAsync(WorkerReady, Timeout.InfiniteTimeSpan, cts.Token);
        Assert.False(wait.IsCompleted);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task AlreadyCancelled_ButAlreadyTrue_IsTrue_ElseThrows()
    {
        _registry.Ready(Ready(), HiveUrl);
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        Assert.True(await _registry.WaitForAsync(s => s.Find(HiveId) is not null, TimeSpan.FromSeconds(1), cts.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _registry.WaitForAsync(WorkerReady, TimeSpan.FromSeconds(1), cts.Token));
    }

    [Fact]
    public async Task ManyWaiters_OnDifferentConditions_EachCompletesWithItsOwn()
    {
        _registry.Ready(Ready(), HiveUrl);
        var waits = Enumerable.Range(0, 20)
            .Select(i => _registry.WaitForAsync(s => s.Find(HiveId)?.LastSeq >= i, TimeSpan.FromSeconds(30), CancellationToken.None)).ToList();
        for (var seq = 0; seq < 10; seq++) _registry.ApplyFrame(Frame(seq));
        for (var i = 0; i < 10; i++) Assert.True(await waits[i].WaitAsync(TimeSpan.FromSeconds(10)), $"waiter {i}");
        Assert.All(waits.Skip(10), w => Assert.False(w.IsCompleted));
        _clock.Advance(TimeSpan.FromSeconds(30));
        Assert.All(await Task.WhenAll(waits.Skip(10)).WaitAsync(TimeSpan.FromSeconds(10)), Assert.False);
    }
}
