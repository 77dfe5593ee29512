using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Worker.Sampling;
using Rbee.Worker.Serving;
using Rbee.Worker.Tests.Model;

namespace Rbee.Worker.Tests.Serving;

/// <summary>
/// The warm-up the worker runs before it says it is ready (issue 13, "no cold first request") leaves nothing behind:
/// every slot's cache is empty, and the first greedy answer is the one a worker that never warmed up gives, and the
/// one every later request gets.
/// </summary>
public sealed class WarmUpTests
{
    private static LoadedWorker Start(string path, int parallel)
    {
        var options = new WorkerOptions { ModelPath = path, ModelId = "rand-small", Parallel = parallel, ContextSize = 128 };
        return LoadedWorker.Create(GgufServedModel.Load(options, NullLogger.Instance), options);
    }

    private static async Task<string> Complete(LoadedWorker worker, int[] prompt)
    {
        using var lease = await worker.Pool.AcquireAsync(prompt, default);
        var request = new GenerationRequest
        {
            PromptTokens = prompt, Sampling = new SamplingParameters { Temperature = 0 }, MaxTokens = 16, IgnoreEos = true,
        };
        var result = await worker.Loop.RunAsync(lease.Slot, request, null, default).WaitAsync(TimeSpan.FromSeconds(120));
        Assert.Equal(16, result.CompletionTokens);
        return result.Text;
    }

    [Fact]
    public async Task AfterWarmUp_SlotsHoldNoTokens_AndTheFirstGreedyAnswerIsTheColdWorkersAndTheLaterOnes()
    {
        var path = ModelTestData.RandSmall("rand-small-Q8_0.gguf").File;
        using var warm = Start(path, parallel: 3);
        warm.WarmUp(rounds: 2);

        var total = warm.Pool.Total;
        var leases = new List<SlotLease>();
        for (var i = 0; i < total; i++) leases.Add(await warm.Pool.AcquireAsync(Array.Empty<int>(), default));
        Assert.All(leases, l => Assert.Equal(0, l.Slot.Session.Position));
        Assert.All(leases, l => Assert.True(l.Slot.Session.Tokens.IsEmpty));
        foreach (var l in leases) l.Dispose();

        var prompt = warm.Model.Tokenize("Once upon a time", addSpecial: true, parseSpecial: true);
        var first = await Complete(warm, prompt);
        using (var cold = Start(path, parallel: 1))
            Assert.Equal(await Complete(cold, prompt), first);
        for (var i = 0; i < 3; i++) Assert.Equal(first, await Complete(warm, prompt));
    }
}
