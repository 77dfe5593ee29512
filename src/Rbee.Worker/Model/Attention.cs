using Rbee.Worker.Kernels;

namespace Rbee.Worker.Model;

/// <summary>
/// Causal multi-head attention over a session's KV cache, for a batch of new tokens whose keys and values are
/// already in the cache. Heads are independent, so they are split over the kernels' <see cref="ComputePool"/>
/// (one task per head, each with its own row of score scratch); small problems run inline, where posting a job
/// would cost more than it saves.
/// </summary>
internal static unsafe class Attention
{
    /// <summary>Below this many multiply-adds (≈ tokens × heads × positions × head size) the caller does it alone.</summary>
    private const long InlineWork = 1 << 15;

    /// <summary>Everything a head task reads; lives on the caller's stack while the pool runs.</summary>
    private struct Job
    {
        public float* Q, Keys, Values, Out, Scores;
        public int N, Start, QDim, KvDim, HeadDim, Group, ScoresStride;
        public float Scale;
    }

    /// <summary>
    /// out[t, h] = Σ_j softmax_j(q[t,h]·K[j,h/group] · scale) · V[j,h/group] for j ≤ start + t.
    /// <paramref name="scores"/> holds heads × <paramref name="scoresStride"/> floats.
    /// </summary>
    public static void Run(ReadOnlySpan<float> q, float[] keys, float[] values, Span<float> output, Span<float> scores,
        int scoresStride, int n, int start, ModelConfig c)
    {
        fixed (float* pq = q)
        fixed (float* pk = keys)
        fixed (float* pv = values)
        fixed (float* po = output)
        fixed (float* ps = scores)
        {
            var job = new Job
            {
                Q = pq, Keys = pk, Values = pv, Out = po, Scores = ps,
                N = n, Start = start, QDim = c.QueryDim, KvDim = c.KvDim, HeadDim = c.HeadDim,
                Group = c.Heads / c.KvHeads, ScoresStride = scoresStride, Scale = 1f / MathF.Sqrt(c.HeadDim),
            };
            var work = (long)n * c.Heads * (start + n) * c.HeadDim;
            if (work < InlineWork)
                for (var h = 0; h < c.Heads; h++) Head(&job, h);
            else
                ComputePool.Shared.Run(&Head, &job, c.Heads);
        }
    }

    private static void Head(void* context, int h)
    {
        var j = (Job*)context;
        var hd = j->HeadDim;
        var kvOff = h / j->Group * hd;
        var scoresRow = j->Scores + (long)h * j->ScoresStride;
        for (var t = 0; t < j->N; t++)
        {
            var len = j->Start + t + 1;
            var q = new ReadOnlySpan<float>(j->Q + (long)t * j->QDim + h * hd, hd);
            var scores = new Span<float>(scoresRow, len);
            for (var p = 0; p < len; p++)
                scores[p] = VectorOps.Dot(q, new ReadOnlySpan<float>(j->Keys + (long)p * j->KvDim + kvOff, hd)) * j->Scale;
            VectorOps.Softmax(scores);
            var o = new Span<float>(j->Out + (long)t * j->QDim + h * hd, hd);
            o.Clear();
            for (var p = 0; p < len; p++)
                VectorOps.Axpy(scores[p], new ReadOnlySpan<float>(j->Values + (long)p * j->KvDim + kvOff, hd), o);
        }
    }
}
