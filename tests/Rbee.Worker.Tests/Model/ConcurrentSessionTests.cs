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
