using System.Text.Json;
using Rbee.Testing;

namespace Rbee.Worker.Tests.Model;

/// <summary>The shared reference files, read once.</summary>
internal static class ModelTestData
{
    public static string Aidreams => RepoPaths.Model("aidreams260K.gguf");

    /// <summary>aidreams260K.reference.json: the prompt with BOS and llama.cpp's 64 greedy ids.</summary>
    public static (int[] Prompt, int[] Generated) AidreamsReference()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(RepoPaths.Model("aidreams260K.reference.json")));
        var root = doc.RootElement;
        return (Ints(root.GetProperty("prompt_tokens_with_bos")), Ints(root.GetProperty("generated")));
    }

    /// <summary>One model of rand-small.reference.json: prompt, greedy path, and per position the top 5 (id, logprob).</summary>
    public sealed record RandSmallCase(string File, int[] Prompt, int[] Generated, (int Id, double LogProb)[][] Top5);

    public static RandSmallCase RandSmall(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(RepoPaths.Model("rand-small", "rand-small.reference.json")));
        var root = doc.RootElement;
        var m = root.GetProperty("models").GetProperty(file);
        var top5 = m.GetProperty("top5").EnumerateArray()
            .Select(pos => pos.EnumerateArray().Select(e => (e[0].GetInt32(), e[1].GetDouble())).ToArray())
            .ToArray();
        return new RandSmallCase(RepoPaths.Model("rand-small", file), Ints(root.GetProperty("prompt_tokens_with_bos")),
            Ints(m.GetProperty("generated")), top5);
    }

    private static int[] Ints(JsonElement a) => a.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    public static int ArgMax(ReadOnlySpan<float> v)
    {
        var best = 0;
        for (var i = 1; i < v.Length; i++)
            if (v[i] > v[best]) best = i;
        return best;
    }

    /// <summary>Natural-log softmax of one logits row, in double.</summary>
    public static double[] LogSoftmax(ReadOnlySpan<float> logits)
    {
        double max = double.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v);
        double sum = 0;
        foreach (var v in logits) sum += Math.Exp(v - max);
        var lse = max + Math.Log(sum);
        var r = new double[logits.Length];
        for (var i = 0; i < logits.Length; i++) r[i] = logits[i] - lse;
        return r;
    }
}
