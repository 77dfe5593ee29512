using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Worker.Sampling;
using Rbee.Worker.Serving;
using Rbee.Worker.Tests.Model;

namespace Rbee.Worker.Tests.Serving;

/// <summary>
/// The inference loop serving several slots at once: requests share forward passes (the batch histogram says so),
/// each request's text is what it gives alone, and a client that leaves mid-batch frees its slot without
/// disturbing the others.
/// </summary>
public sealed class InferenceLoopTests
{
    private static readonly SamplingParameters Greedy = new() { Temperature = 0 };

    private static GenerationRequest Request(int[] prompt, int max) =>
        new() { PromptTokens = prompt, Sampling = Greedy, MaxTokens = max, IgnoreEos = true };

    private static Slot[] Slots(IServedModel model, int count, int ctx) =>
        Enumerable.Range(0, count).Select(i => new Slot(i, model.CreateSession(ctx), new Sampler(model.VocabSize), ctx)).ToArray();

    /// <summary>(sum, count) of <c>llm_worker_batch_sequences</c> as <c>GET /metrics</c> shows it.</summary>
    private static async Task<(double Sum, double Count)> BatchHistogram(WorkerMetrics metrics)
    {
        using var text = new MemoryStream();
        await metrics.Registry.CollectAndExportAsTextAsync(text);
        var lines = System.Text.Encoding.UTF8.GetString(text.ToArray()).Split('\n');
        double Value(string name) => double.Parse(lines.Single(l => l.StartsWith(name + " ", StringComparison.Ordinal)).Split(' ')[1], CultureInfo.InvariantCulture);
        return (Value("llm_worker_batch_sequences_sum"), Value("llm_worker_batch_sequences_count"));
    }

    [Fact]
    public async Task FourConcurrentRequests_ShareForwardPasses_AndEachGivesItsTextAlone()
    {
        // a → b → c → a …, x → x …: each prompt's continuation is known, and differs from the others'.
        var model = new ScriptedModel(["<eos>", "a", "b", "c", "\n", "0xC3", "0xA9", "x"], t => t switch { 1 => 2, 2 => 3, 3 => 1, _ => 7 });
        var metrics = new WorkerMetrics();
        using var loop = new InferenceLoop(model, metrics, start: false);
        var slots = Slots(model, 4, 64);
        int[][] prompts = [[1], [2], [3], [4]];
        string[] expected = ["bcabcabcab", "cabcabcabc", "abcabcabca", "xxxxxxxxxx"];

        // All four are queued before the loop's first step, so they are certain to share its passes.
        var runs = prompts.Select((p, i) => loop.RunAsync(slots[i], Request(p, 10), null, default)).ToArray();
        loop.Start();
        var results = await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(expected, results.Select(r => r.Text));
        var (sum, count) = await BatchHistogram(metrics);
        // Four one-sequence prefill passes in the first step (each samples its first token), then nine passes of four.
        Assert.Equal((4 + 9 * 4.0, 4 + 9.0), (sum, count));
    }

    [Fact]
    public async Task ShortPromptsQueuedBehindALongOne_StartDecodingTogether_AndTheLongPromptKeepsItsChunks()
    {
        var model = new ScriptedModel(["<eos>", "a", "b", "c", "\n", "0xC3", "0xA9", "x"], t => t switch { 1 => 2, 2 => 3, 3 => 1, _ => 7 });
        var metrics = new WorkerMetrics();
        using var loop = new InferenceLoop(model, metrics, start: false);
        var slots = Slots(model, 3, 1024);
        var longPrompt = Enumerable.Repeat(4, Generation.PromptBatch + 44).ToArray();
        var runs = new[] { loop.RunAsync(slots[0], Request(longPrompt, 5), null, default),
            loop.RunAsync(slots[1], Request([1], 5), null, default), loop.RunAsync(slots[2], Request([2], 5), null, default) };
        loop.Start();
        var results = await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(["xxxxx", "bcabc", "cabca"], results.Select(r => r.Text));
        // Step 1: the long prompt's first chunk fills the step. Step 2: its last 44 tokens and both short prompts fit,
        // so all three decode together from then on: four one-sequence passes, then four of three. The long prompt is
        // cut where it is cut when it runs alone.
        Assert.Equal([Generation.PromptBatch, 44, 1, 1, 1, 1], ((ScriptedSession)slots[0].Session).Evaluations);
        Assert.Equal((4 + 4 * 3.0, 4 + 4.0), await BatchHistogram(metrics));
    }

    [Fact]
    public async Task PromptsThatArriveTogether_ShareOnePrefillPass_WhereTheEngineCanTakeThem()
    {
        var model = new ScriptedModel(["<eos>", "a", "b", "c", "\n", "0xC3", "0xA9", "x"], t => t switch { 1 => 2, 2 => 3, 3 => 1, _ => 7 })
        {
            PrefillTogetherFrom = 8,
        };
        var metrics = new WorkerMetrics();
        using var loop = new InferenceLoop(model, metrics, start: false);
        var slots = Slots(model, 5, 128);
        // Prompts of 8, 20, 3, 30 and 10 tokens ending in a, b, c, \n and a: 3 is too short to share a pass, and the
        // 10 would take the shared pass past its 64 tokens (8 + 20 + 30 = 58), so both go alone.
        (int Length, int Last)[] shapes = [(8, 1), (20, 2), (3, 3), (30, 4), (10, 1)];
        var runs = shapes.Select((p, i) => loop.RunAsync(slots[i],
            Request([.. Enumerable.Repeat(4, p.Length - 1), p.Last], 4), null, default)).ToArray();
        loop.Start();
        var results = await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(["bcab", "cabc", "abca", "xxxx", "bcab"], results.Select(r => r.Text));
        Assert.Equal([8, 20, 30], Assert.Single(model.PrefillPasses));
        Assert.Equal([10, 1, 1, 1], ((ScriptedSession)slots[4].Session).Evaluations);
        // One prefill pass of three and two of one (each samples its first token), then three decode passes of five.
        Assert.Equal((3 + 1 + 1 + 3 * 5.0, 3 + 3.0), await BatchHistogram(metrics));
    }

    private static ScriptedModel Abc() =>
        new(["<eos>", "a", "b", "c", "\n", "0xC3", "0xA9", "x"], t => t switch { 1 => 2, 2 => 3, 3 => 1, _ => 7 }) { PrefillTogetherFrom = 8 };

    private static int[] Prompt(int last) => [.. Enumerable.Repeat(4, 7), last];

    [Fact]
    public async Task ARequestAnnouncedWhenTheLoopWakes_IsWaitedFor_AndBothShareTheFirstPrefillPass()
    {
        var model = Abc();
        using var loop = new InferenceLoop(model, gatherLimit: TimeSpan.FromSeconds(30));
        var slots = Slots(model, 2, 64);

        var second = loop.Announce(); // its body read, being tokenized: the loop wakes for the first meanwhile
        var a = loop.RunAsync(slots[0], Request(Prompt(1), 4), null, default);
        await Task.Delay(200); // long after the loop woke for the first: it must still be waiting, not prefilling it alone
        Assert.False(a.IsCompleted);
        var b = loop.RunAsync(slots[1], Request(Prompt(2), 4), null, default, second);
        var results = await Task.WhenAll(a, b).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(["bcab", "cabc"], results.Select(r => r.Text));
        Assert.Equal([8, 8], Assert.Single(model.PrefillPasses));
    }

    [Fact]
    public async Task AnAnnouncedRequestGivenUp_HoldsTheOthersNoLonger()
    {
        var model = Abc();
        using var loop = new InferenceLoop(model, gatherLimit: TimeSpan.FromMinutes(10));
        var slots = Slots(model, 1, 64);

        var lost = loop.Announce();
        var a = loop.RunAsync(slots[0], Request(Prompt(1), 4), null, default);
        await Task.Delay(100);
        lost.Dispose(); // it failed validation, say: the loop must not wait its ten minutes for it
        lost.Dispose();
        Assert.Equal("bcab", (await a.WaitAsync(TimeSpan.FromSeconds(30))).Text);
        Assert.Empty(model.PrefillPasses);
    }

    [Fact]
    public async Task AnAnnouncedRequestThatNeverComes_HoldsTheOthersAtMostTheGatherLimit()
    {
        var model = Abc();
        using var loop = new InferenceLoop(model, gatherLimit: TimeSpan.FromMilliseconds(100));
        var slots = Slots(model, 1, 64);

        _ = loop.Announce(); // never queued, never given up
        var a = loop.RunAsync(slots[0], Request(Prompt(1), 4), null, default);
        Assert.Equal("bcab", (await a.WaitAsync(TimeSpan.FromSeconds(30))).Text);
        // The next request finds the loop busy or idle with the lost announcement still counted: again at most the limit.
        var b = loop.RunAsync(slots[0], Request(Prompt(2), 4), null, default);
        Assert.Equal("cabc", (await b.WaitAsync(TimeSpan.FromSeconds(30))).Text);
    }

    [Fact]
    public async Task ASharedPrefillPassThatFails_FailsItsRequests_AndTheOthersAndLaterOnesAreServed()
    {
        var model = new ScriptedModel(["<eos>", "a", "b", "c", "\n", "0xC3", "0xA9", "x"], t => t switch { 1 => 2, 2 => 3, 3 => 1, _ => 7 })
        {
            PrefillTogetherFrom = 8,
            FailNextPrefillPass = true,
        };
        using var loop = new InferenceLoop(model, start: false);
        var slots = Slots(model, 3, 128);
        var failing = new[] { loop.RunAsync(slots[0], Request([.. Enumerable.Repeat(4, 9), 1], 4), null, default),
            loop.RunAsync(slots[1], Request([.. Enumerable.Repeat(4, 11), 2], 4), null, default) };
        var alone = loop.RunAsync(slots[2], Request([4, 3], 4), null, default);
        loop.Start();

        foreach (var run in failing)
        {
            var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => run.WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.Equal("scripted engine fault", ex.Message);
        }
        Assert.Equal("abca", (await alone.WaitAsync(TimeSpan.FromSeconds(30))).Text);

        // The loop goes on: the failed requests' slots serve the same prompts again, now in a pass that works.
        var again = await Task.WhenAll(loop.RunAsync(slots[0], Request([.. Enumerable.Repeat(4, 9), 1], 4), null, default),
            loop.RunAsync(slots[1], Request([.. Enumerable.Repeat(4, 11), 2], 4), null, default)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(["bcab", "cabc"], again.Select(r => r.Text));
    }

    [Fact]
    public async Task ClientLeavingMidBatch_FreesItsSlot_AndTheOthersFinishUnchanged()
    {
        var model = new ScriptedModel(["<eos>", "a", "b", "c", "\n", "0xC3", "0xA9", "x"], t => t switch { 1 => 2, 2 => 3, 3 => 1, _ => 7 });
        using var loop = new InferenceLoop(model, start: false);
        // Slot 1's request has no limit but its context, a million tokens: it can only end by its client leaving.
        Slot[] slots = [.. Slots(model, 1, 128), .. Slots(model, 1, 1_000_000), .. Slots(model, 1, 128)];
        using var leaving = new CancellationTokenSource();
        var left = 0;
        var pieces = new List<string>[3];
        Task<GenerationResult> Run(int i, int[] prompt, CancellationToken ct) => loop.RunAsync(slots[i], Request(prompt, i == 1 ? int.MaxValue : 60), (text, _) =>
        {
            pieces[i].Add(text);
            if (i == 1 && ++left == 2) leaving.Cancel(); // the client of slot 1 hangs up after two pieces
            return ValueTask.CompletedTask;
        }, ct);
        for (var i = 0; i < 3; i++) pieces[i] = [];
        var first = Run(0, [1], default);
        var gone = Run(1, [2], leaving.Token);
        var third = Run(2, [4], default);
        loop.Start();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gone.WaitAsync(TimeSpan.FromSeconds(30)));
        // The loop has let go of slot 1: its cache no longer grows while the others run on.
        var frozen = slots[1].Session.Position;
        var results = await Task.WhenAll(first, third).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(frozen, slots[1].Session.Position);
        Assert.True(frozen < 1_000_000);
        Assert.Equal(string.Concat(Enumerable.Repeat("bca", 20)), results[0].Text);
        Assert.Equal(new string('x', 60), results[1].Text);
        Assert.Equal(results[0].Text, string.Concat(pieces[0]));
        Assert.Equal(2, pieces[1].Count);

        // The freed slot serves the next request.
        var again = await loop.RunAsync(slots[1], Request([3], 4), null, default).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("abca", again.Text);
    }

    [Fact]
    public async Task RandSmall_ConcurrentGreedyCompletions_AreTheTextsEachGivesAlone()
    {
        var path = ModelTestData.RandSmall("rand-small-Q8_0.gguf").File;
        using var model = GgufServedModel.Load(new WorkerOptions { ModelPath = path, ModelId = "rand-small" }, NullLogger.Instance);
        var metrics = new WorkerMetrics();
        using var loop = new InferenceLoop(model, metrics, start: false);
        var slots = Slots(model, 8, 128);
        // Two prompts long enough to be prefilled in one pass together, two short enough to be prefilled alone.
        var prompts = new[]
        {
            "Echoes", "Once upon a time there was a little fox who lived in the forest", "Hi",
            "In a distant galaxy far away, the stars were bright and the planets were cold",
        }.Select(p => model.Tokenize(p, addSpecial: true, parseSpecial: true)).ToArray();
        Assert.Equal([false, true, false, true], prompts.Select(p => model.PrefillsTogether(p.Length)));

        // Together first (queued before the first step), each on a fresh slot …
        var together = prompts.Select((p, i) => loop.RunAsync(slots[i], Request(p, 24), null, default)).ToArray();
        loop.Start();
        var batched = await Task.WhenAll(together).WaitAsync(TimeSpan.FromSeconds(120));
        // One prefill pass of the two long prompts, one of each short one, then 23 decode passes of all four.
        Assert.Equal((2 + 1 + 1 + 23 * 4.0, 3 + 23.0), await BatchHistogram(metrics));

        // … then one by one on other fresh slots, so no cached prefix is shared with the first run.
        for (var i = 0; i < prompts.Length; i++)
        {
            var alone = await loop.RunAsync(slots[4 + i], Request(prompts[i], 24), null, default).WaitAsync(TimeSpan.FromSeconds(120));
            Assert.Equal(24, alone.CompletionTokens);
            Assert.Equal(alone.Text, batched[i].Text);
        }
    }
}
