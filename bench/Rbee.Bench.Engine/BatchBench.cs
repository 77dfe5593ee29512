using System.Diagnostics;
using Rbee.Worker.Model;

namespace Rbee.Bench.Engine;

/// <summary>
/// Continuous batching measured on the engine: N sequences (each with its own short prompt) decoded together through
/// <see cref="BatchDecoder"/>, one token each per forward pass, as the worker's inference loop runs N concurrent
/// streams. Total tok/s for N = 1 is the single-stream rate; for N &gt; 1 it shows how far reading the weights once
/// per step, rather than once per stream, carries. Prints; never asserts.
/// </summary>
internal static class BatchBench
{
    public static string Run(LlamaModel model, int sequences, int tg, Random rng)
    {
        var vocab = model.Config.VocabSize;
        var ctx = Math.Min(model.Config.ContextLength, tg + 32);
        var sessions = new InferenceSession[sequences];
        var tokens = new int[sequences];
        var logits = new float[sequences * vocab];
        var decoder = model.CreateBatchDecoder(sequences);
        for (var s = 0; s < sequences; s++)
        {
            sessions[s] = model.CreateSession(ctx);
            var prompt = Enumerable.Range(0, 8).Select(_ => rng.Next(3, vocab)).ToArray();
            tokens[s] = ArgMax(sessions[s].Evaluate(prompt));
        }
        decoder.Decode(sessions, tokens, logits); // warm-up: JIT, thread buffers
        Next(logits, tokens, vocab);

        var sw = Stopwatch.StartNew();
        var steps = Math.Min(tg, ctx - 8 - 2);
        for (var i = 0; i < steps; i++)
        {
            decoder.Decode(sessions, tokens, logits);
            Next(logits, tokens, vocab);
        }
        var seconds = sw.Elapsed.TotalSeconds;
        var total = steps * sequences / seconds;
        return $"{sequences} seq: {total:F1} tok/s total, {total / sequences:F1} per stream";
    }

    private static void Next(float[] logits, int[] tokens, int vocab)
    {
        for (var s = 0; s < tokens.Length; s++) tokens[s] = ArgMax(logits.AsSpan(s * vocab, vocab));
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        var best = 0;
        for (var i = 1; i < v.Length; i++)
            if (v[i] > v[best]) best = i;
        return best;
    }
}
