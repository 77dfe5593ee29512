using Rbee.Worker.Sampling;
using Rbee.Worker.Serving;

namespace Rbee.Worker.Tests.Serving;

/// <summary>A generation's text, stop strings and limits, run through the <see cref="InferenceLoop"/>.</summary>
public sealed class GenerationTests : IDisposable
{
    private readonly List<InferenceLoop> _loops = [];

    public void Dispose()
    {
        foreach (var l in _loops) l.Dispose();
    }

    //                                 0      1    2    3    4     5       6       7
    private static readonly string[] Pieces = ["<eos>", "a", "b", "c", "\n", "0xC3", "0xA9", "x"];
    private static readonly SamplingParameters Greedy = new() { Temperature = 0 };

    private (InferenceLoop, Slot) Make(Func<int, int> next, int ctx = 64)
    {
        var model = new ScriptedModel(Pieces, next);
        var loop = new InferenceLoop(model);
        _loops.Add(loop);
        return (loop, new Slot(0, model.CreateSession(ctx), new Sampler(Pieces.Length), ctx));
    }

    private static GenerationRequest Request(int[] prompt, int? max = null, params string[] stop) =>
        new() { PromptTokens = prompt, Sampling = Greedy, MaxTokens = max, Stop = stop };

    [Fact]
    public async Task MaxTokens_EndsWithLength()
    {
        var (g, slot) = Make(t => t == 1 ? 2 : 1); // a b a b ...
        var r = await g.RunAsync(slot, Request([1], 5), null, default);
        Assert.Equal("babab", r.Text);
        Assert.Equal((1, 5, FinishReason.Length), (r.PromptTokens, r.CompletionTokens, r.FinishReason));
    }

    [Fact]
    public async Task MaxTokensFarBeyondTheContext_IsBoundedByTheContext()
    {
        // OpenAI clients send max_tokens up to int.MaxValue; the context, not the request, bounds the work.
        var (g, slot) = Make(t => t == 1 ? 2 : 1, ctx: 8);
        var r = await g.RunAsync(slot, Request([1, 2], int.MaxValue), null, default);
        Assert.Equal((6, FinishReason.Length), (r.CompletionTokens, r.FinishReason));
    }

    [Fact]
    public async Task EndOfGeneration_EndsWithStop_AndIsNotCounted()
    {
        var (g, slot) = Make(t => t switch { 1 => 2, 2 => 3, _ => ScriptedModel.Eos });
        var r = await g.RunAsync(slot, Request([1], 50), null, default);
        Assert.Equal(("bc", 2, FinishReason.Stop), (r.Text, r.CompletionTokens, r.FinishReason));
    }

    [Fact]
    public async Task StopStringSplitOverTokens_IsCutAndNeverStreamed()
    {
        // a -> b -> \n -> \n -> x -> a ...: the stop "\n\nx" arrives over three tokens.
        var newlines = 0;
        var (g, slot) = Make(t => t switch { 1 => 2, 2 => 4, 4 => ++newlines % 2 == 1 ? 4 : 7, _ => 1 });
        var streamed = new List<string>();
        var r = await g.RunAsync(slot, Request([1], 50, "\n\nx"), (t, _) => { streamed.Add(t); return ValueTask.CompletedTask; }, default);
        Assert.Equal("b", r.Text);
        Assert.Equal(FinishReason.Stop, r.FinishReason);
        Assert.Equal("b", string.Concat(streamed));
    }

    [Fact]
    public async Task CharacterSplitOverTwoTokens_IsStreamedWhole()
    {
        var (g, slot) = Make(t => t switch { 1 => 5, 5 => 6, _ => ScriptedModel.Eos });
        var streamed = new List<string>();
        var r = await g.RunAsync(slot, Request([1], 10), (t, _) => { streamed.Add(t); return ValueTask.CompletedTask; }, default);
        Assert.Equal("é", r.Text);
        Assert.Equal(new[] { "é" }, streamed);
    }

    [Fact]
    public async Task SharedPrefix_IsNotEvaluatedAgain()
    {
        var (g, slot) = Make(_ => ScriptedModel.Eos);
        var first = await g.RunAsync(slot, Request([1, 2, 3, 1]), null, default);
        Assert.Equal(4, first.Timings.PromptN);
        var second = await g.RunAsync(slot, Request([1, 2, 3, 2, 2]), null, default);
        Assert.Equal(2, second.Timings.PromptN);
        Assert.Equal(new[] { 1, 2, 3, 2, 2 }, slot.Session.Tokens.ToArray());
        // The same prompt again still evaluates its last token, whose logits start the generation.
        var third = await g.RunAsync(slot, Request([1, 2, 3, 2, 2]), null, default);
        Assert.Equal(1, third.Timings.PromptN);
        Assert.Equal(5, slot.Session.Position);
    }

    [Fact]
    public async Task FullContext_EndsWithLength()
    {
        var (g, slot) = Make(_ => 7, ctx: 8);
        var r = await g.RunAsync(slot, Request([1, 2, 3]), null, default);
        Assert.Equal((5, FinishReason.Length), (r.CompletionTokens, r.FinishReason));
    }

    [Fact]
    public async Task Cancellation_StopsGeneratingAtOnce()
    {
        var (g, slot) = Make(_ => 7);
        using var cts = new CancellationTokenSource();
        var count = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => g.RunAsync(slot, Request([1], 1000),
            (_, _) => { if (++count == 3) cts.Cancel(); return ValueTask.CompletedTask; }, cts.Token));
        Assert.Equal(3, count);
    }
}
