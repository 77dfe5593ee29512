using Rbee.Worker.Kernels;

namespace Rbee.Worker.Tests.Kernels;

public class ComputePoolTests
{
    private static unsafe void Mark(void* ctx, int i) => Interlocked.Increment(ref ((int*)ctx)[i]);

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 7)]
    [InlineData(4, 3)]
    [InlineData(3, 1000)]
    public unsafe void Run_CallsEveryTaskExactlyOnce(int threads, int tasks)
    {
        using var pool = new ComputePool(threads, spinIterations: 10);
        var hits = new int[tasks];
        fixed (int* p = hits)
        {
            for (var round = 0; round < 200; round++)
            {
                pool.Run(&Mark, p, tasks);
                for (var i = 0; i < tasks; i++) Assert.Equal(round + 1, hits[i]);
            }
        }
    }

    [Fact]
    public unsafe void SleepingWorkers_WakeForTheNextJob()
    {
        using var pool = new ComputePool(3, spinIterations: 0);
        var hits = new int[64];
        fixed (int* p = hits)
        {
            pool.Run(&Mark, p, 64);
            // Workers with no spin budget go to sleep at once; the next job must still complete.
            Thread.Yield();
            pool.Run(&Mark, p, 64);
        }
        Assert.All(hits, h => Assert.Equal(2, h));
    }

    [Fact]
    public async Task ConcurrentCallers_AreSerialisedNotMixed()
    {
        using var pool = new ComputePool(2, spinIterations: 10);
        var a = new int[100];
        var b = new int[100];
        var t1 = Task.Run(() => RunMany(pool, a, 300));
        var t2 = Task.Run(() => RunMany(pool, b, 300));
        await Task.WhenAll(t1, t2);
        Assert.All(a, h => Assert.Equal(300, h));
        Assert.All(b, h => Assert.Equal(300, h));
    }

    private static unsafe void RunMany(ComputePool pool, int[] hits, int times)
    {
        fixed (int* p = hits)
            for (var i = 0; i < times; i++) pool.Run(&Mark, p, hits.Length);
    }

    [Fact]
    public void Configure_ReplacesTheSharedPoolAndRejectsZero()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ComputePool.Configure(0));
        Assert.True(ComputePool.Shared.Threads >= 1);
    }
}
