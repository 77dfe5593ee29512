using Rbee.Worker.Sampling;
using Rbee.Worker.Serving;

namespace Rbee.Worker.Tests.Serving;

public sealed class SlotPoolTests
{
    private static SlotPool Pool(int slots, int queue) =>
        new(Enumerable.Range(0, slots).Select(i => new Slot(i, new ScriptedSession(), new Sampler(4), 64)), queue);

    [Fact]
    public async Task RequestsBeyondSlots_WaitInOrder_AndFullQueueRefuses()
    {
        using var pool = Pool(1, 2);
        var first = await pool.AcquireAsync(new[] { 1 }, default);
        var second = pool.AcquireAsync(new[] { 1 }, default);
        var third = pool.AcquireAsync(new[] { 1 }, default);
        Assert.Equal(2, pool.QueueDepth);
        await Assert.ThrowsAsync<QueueFullException>(() => pool.AcquireAsync(new[] { 1 }, default));
        Assert.False(second.IsCompleted);

        first.Dispose();
        var lease2 = await second;
        Assert.False(third.IsCompleted);
        Assert.Equal(1, pool.QueueDepth);
        lease2.Dispose();
        (await third).Dispose();
        Assert.Equal(0, pool.Busy);
    }

    [Fact]
    public async Task CancelledWaiter_LeavesTheQueue_AndSlotGoesToTheNext()
    {
        using var pool = Pool(1, 4);
        var first = await pool.AcquireAsync(new[] { 1 }, default);
        using var cts = new CancellationTokenSource();
        var cancelled = pool.AcquireAsync(new[] { 1 }, cts.Token);
        var next = pool.AcquireAsync(new[] { 1 }, default);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.Equal(1, pool.QueueDepth);
        first.Dispose();
        using var got = await next;
        Assert.Equal(1, pool.Busy);
    }

    [Fact]
    public async Task FreeSlotWithLongestCachedPrefix_IsChosen()
    {
        using var pool = Pool(3, 0);
        var a = await pool.AcquireAsync(new[] { 9 }, default);
        var b = await pool.AcquireAsync(new[] { 9 }, default);
        var c = await pool.AcquireAsync(new[] { 9 }, default);
        b.Slot.Session.Evaluate([1, 2, 3]);
        a.Slot.Session.Evaluate([1, 5]);
        a.Dispose(); b.Dispose(); c.Dispose();
        using var pick = await pool.AcquireAsync(new[] { 1, 2, 3, 4 }, default);
        Assert.Same(b.Slot, pick.Slot);
    }
}
