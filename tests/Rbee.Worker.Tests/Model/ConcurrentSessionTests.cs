using Rbee.Worker.Model;

namespace Rbee.Worker.Tests.Model;

/// <summary>One model, several sequences at once (issue 5: "KV cache per sequence; several requests at once").</summary>
public sealed class ConcurrentSessionTests
{
    [Fact]
    public async Task SessionsOnDifferentThreads_EachDecodeTheReference()
    {
        var (prompt, expected) = ModelTestData.AidreamsReference();
        using var model = LlamaModel.Load(ModelTestData.Aidreams);
        using var start = new Barrier(4);

        // Each worker starts from a different prefix length so the sessions' caches hold different positions at
        // every moment; shared scratch anywhere in the model would corrupt one of them.
        var runs = Enumerable.Range(0, 4).Select(i => Task.Factory.StartNew(() =>
        {
            var session = model.CreateSession();
            start.SignalAndWait();
            var ids = new List<int>();
            var logits = session.Evaluate([.. prompt, .. expected.Take(i * 8)]);
            for (var k = 0; k < 24; k++)
            {
                var id = ModelTestData.ArgMax(logits);
                ids.Add(id);
                logits = session.Evaluate(id).ToArray();
            }
            return (Start: i * 8, Ids: ids);
        }, TaskCreationOptions.LongRunning)).ToArray();

        foreach (var (s, ids) in await Task.WhenAll(runs))
            Assert.Equal(expected.Skip(s).Take(24), ids);
    }
}

/// <summary>The decode loop allocates nothing per token (brief: preallocated scratch), measured on the calling thread.</summary>
[Collection(AllocationCollection.Name)]
public sealed class DecodeAllocationTests
{
    [Fact]
    public void DecodeStep_AllocatesNothing()
    {
        using var model = LlamaModel.Load(ModelTestData.Aidreams);
        var session = model.CreateSession();
        var logits = session.Evaluate([1, 388, 355, 260]);
        for (var i = 0; i < 4; i++) logits = session.Evaluate(ModelTestData.ArgMax(logits)); // warm up (JIT, thread buffers)

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 16; i++) logits = session.Evaluate(ModelTestData.ArgMax(logits));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }
}
