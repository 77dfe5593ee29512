using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Model;

/// <summary>
/// Causal multi-head attention over a session's KV cache, for a batch of new tokens whose keys and values are
/// already in the cache. Heads are independent, so they are split over the kernels' <see cref="ComputePool"/>
/// (one task per KV head's group of query heads, or part of it, see <see cref="Heads"/>); small problems run inline,
/// where posting a job would cost more than it saves.
/// <para>
/// Computed as llama.cpp's CPU flash attention (on by default there), rounding for rounding: keys and values are
/// fp16 (the cache stores them so), the query is rounded to fp16, the softmax is taken online, and the
/// weighted sum of values is accumulated in fp16. That last rounding moves logits by ~1e-3, and the 8-bit
/// activation quantization of the next matrix product turns differences that small into whole rounding steps:
/// without it, Q6_K/Q5_K_M logits land ~0.05 from llama.cpp's (rand-small reference), with it they agree to 1e-4.
/// </para>
/// <para>
/// A prompt chunk of <see cref="TiledFrom"/> tokens or more runs instead as llama.cpp runs one (its tiled path): in
/// float32, tiles of query rows against tiles of positions (Attention.Prompt.cs, <see cref="TiledHeads"/>).
/// </para>
/// </summary>
internal static unsafe partial class Attention
{
    /// <summary>Below this many multiply-adds (≈ tokens × heads × positions × head size) the caller does it alone.</summary>
    private const long InlineWork = 1 << 15;

    /// <summary>Everything a head task reads; lives on the caller's stack while the pool runs. The cache is
    /// head-major (see <see cref="CacheIndex"/>): a KV head's rows lie <see cref="HeadStride"/> values apart.</summary>
    private struct Job
    {
        public float* Q, Out;
        public ushort* Keys, Values;
        public long HeadStride;
        public int N, Start, QDim, HeadDim, Group, HeadsPerTask;
        public float Scale;
    }

    /// <summary>
    /// Where value <paramref name="i"/> of KV head <paramref name="kvHead"/> at <paramref name="position"/> lies in a
    /// layer's cache of <paramref name="context"/> positions: [KV head][position][head dim]. Head-major, so one task's
    /// walk over a KV head's keys or values is one contiguous run of memory (the hardware prefetchers follow it) rather
    /// than a slice of every position's row shared with the other tasks' heads.
    /// </summary>
    public static long CacheIndex(ModelConfig c, int context, int kvHead, int position, int i = 0) =>
        ((long)kvHead * context + position) * c.HeadDim + i;

    /// <summary>
    /// out[t, h] = Σ_j softmax_j(q[t,h]·K[j,h/group] · scale) · V[j,h/group] for j ≤ start + t, over the fp16 cache.
    /// </summary>
    public static void Run(ReadOnlySpan<float> q, Half[] keys, Half[] values, Span<float> output, int n, int start, ModelConfig c)
    {
        var context = keys.Length / c.KvDim;
        if (values.Length != keys.Length || context < start + n)
            throw new ArgumentException($"a cache of {keys.Length} keys and {values.Length} values does not hold positions 0..{start + n - 1}");
        fixed (float* pq = q)
        fixed (Half* pk = keys)
        fixed (Half* pv = values)
        fixed (float* po = output)
        {
            var job = NewJob(c, pq, (ushort*)pk, (ushort*)pv, context, po, n, start);
            RunTasks(&Heads, &job, c.Heads / job.HeadsPerTask, (long)n * c.Heads * (start + n) * c.HeadDim);
        }
    }

    /// <summary>The job of <paramref name="n"/> tokens from position <paramref name="start"/>, its heads split for the
    /// shared pool: <see cref="Run"/> and <see cref="RunNext"/> build it alike, so a sequence gets the same tasks in both.</summary>
    private static Job NewJob(ModelConfig c, float* q, ushort* keys, ushort* values, int context, float* output, int n, int start)
    {
        var group = c.Heads / c.KvHeads;
        return new Job
        {
            Q = q, Keys = keys, Values = values, Out = output, HeadStride = (long)context * c.HeadDim,
            N = n, Start = start, QDim = c.QueryDim, HeadDim = c.HeadDim,
            Group = group, Scale = 1f / MathF.Sqrt(c.HeadDim),
            HeadsPerTask = HeadsPerTask(c.Heads, group, ComputePool.Shared.Threads),
        };
    }

    /// <summary>Runs <paramref name="tasks"/> tasks on the pool, or on this thread when the multiply-adds they do
    /// (<paramref name="work"/>) are too few to repay waking it.</summary>
    private static void RunTasks(delegate*<void*, int, void> body, void* context, int tasks, long work)
    {
        if (work < InlineWork)
            for (var t = 0; t < tasks; t++) body(context, t);
        else
            ComputePool.Shared.Run(body, context, tasks);
    }

    /// <summary>One sequence's part of a batched decode step (<see cref="RunNext"/>): its new token's query and output,
    /// its cache of <see cref="Context"/> positions (pinned, holding the new token's key and value already), and the new
    /// token's position.</summary>
    internal struct Next
    {
        public float* Q, Out;
        public Half* Keys, Values;
        public int Context, Start;
    }

    /// <summary>Every sequence's jobs of one <see cref="RunNext"/> call, on the caller's stack.</summary>
    private struct Batch
    {
        public Job* Jobs;
        public int TasksPerSequence;
    }

    /// <summary>
    /// <see cref="Run"/> for one new token of each of several sequences (batched decode), in one pass of the pool:
    /// every sequence's head tasks are exactly those <see cref="Run"/> gives it alone (the split depends on the pool's
    /// size only), so each output is bit for bit the same; the threads meet once per layer instead of once per sequence,
    /// and a short sequence's tasks fill in beside a long one's.
    /// </summary>
    public static void RunNext(ReadOnlySpan<Next> sequences, ModelConfig c)
    {
        var n = sequences.Length;
        if (n == 0) return;
        var jobs = stackalloc Job[n];
        long work = 0;
        for (var s = 0; s < n; s++)
        {
            var q = sequences[s];
            jobs[s] = NewJob(c, q.Q, (ushort*)q.Keys, (ushort*)q.Values, q.Context, q.Out, 1, q.Start);
            work += (long)c.Heads * (q.Start + 1) * c.HeadDim;
        }
        var batch = new Batch { Jobs = jobs, TasksPerSequence = c.Heads / jobs[0].HeadsPerTask };
        RunTasks(&BatchHeads, &batch, n * batch.TasksPerSequence, work);
    }

    private static void BatchHeads(void* context, int task)
    {
        var b = (Batch*)context;
        Heads(b->Jobs + task / b->TasksPerSequence, task % b->TasksPerSequence);
    }

    /// <summary>
    /// How many query heads of one KV head a task takes: as many of the group as still leaves a task per thread (each
    /// task reads and widens its keys and values once for all its heads).
    /// </summary>
    private static int HeadsPerTask(int heads, int group, int threads)
    {
        for (var d = group; d > 1; d--)
            if (group % d == 0 && heads / d >= threads) return d;
        return 1;
    }

    /// <summary>
    /// From this many new tokens on (a prompt), a task's keys and values are widened to float once for every position
    /// and every query reads them from there: a prompt's queries then share one conversion per position instead of
    /// each redoing it. Below it (decode), each block's rows are widened as the block is reached. The arithmetic is the
    /// same either way, so a prompt shorter than <see cref="TiledFrom"/> gets bit for bit what one-token steps give.
    /// </summary>
    private const int WidenFrom = 4;

    [ThreadStatic] private static float[]? _widened;

    /// <summary>Positions a task takes at a time: their widened rows stay in L1/L2 while every head uses them.</summary>
    private const int Block = 32;

    /// <summary>
    /// One task: its query heads, which share one KV head, walk the cache together, <see cref="Block"/> positions at a
    /// time, over rows widened to float (exactly, once for all the task's heads; see <see cref="WidenFrom"/> for when).
    /// Per block (<see cref="AttendBlock"/>): per head all the block's scores (independent dots), then the online
    /// softmax over them in order, which yields each position's value weight and where the maximum rose (and by what
    /// factor); then <see cref="AccumulateHeads"/> replays the accumulators' operations with 64 values of each held in
    /// registers across the block, instead of loading, rounding and storing the whole accumulator per position. Per head
    /// and per accumulator value it is ggml_compute_forward_flash_attn_ext_f16 operation for operation: same dot order,
    /// same exponentials, the accumulator rescaled (and rounded) where a score raised the maximum, then the value added
    /// and rounded to fp16 (ggml_vec_mad_f16), in position order. A prompt chunk of <see cref="TiledFrom"/> tokens or
    /// more goes to <see cref="TiledHeads"/> instead.
    /// </summary>
    private static void Heads(void* context, int task)
    {
        var j = (Job*)context;
        if (IsTiled(j))
        {
            TiledHeads(j, task);
            return;
        }
        var hd = j->HeadDim;
        var count = j->HeadsPerTask;
        var h0 = task * count;
        var kvOff = h0 / j->Group * j->HeadStride;
        // Widened the way the fp16 kernels widened them (HalfToSingle8 where they used it, exact scalars elsewhere),
        // so even a cache holding fp16 infinities gives the same floats.
        var keyVector = Vector256.IsHardwareAccelerated ? hd & ~31 : 0;
        var valueVector = Vector256.IsHardwareAccelerated ? hd & ~7 : 0;
        var whole = j->N >= WidenFrom;
        // One token (or a few) reads each block's values where the four-head accumulation widens them itself.
        var fuseValues = !whole && CanAccumulate4(hd, count) && keyVector == hd && valueVector == hd;
        var rows = whole ? j->Start + j->N : Block;
        var need = 2 * rows * hd;
        var buf = _widened;
        if (buf == null || buf.Length < need) _widened = buf = new float[Math.Max(need, 1 << 16)];
        var state = new HeadState(count, hd);
        fixed (float* keys = buf)
        {
            var values = keys + (long)rows * hd;
            if (whole) WidenRows(j, kvOff, 0, rows, keys, values, keyVector, valueVector);
            for (var t = 0; t < j->N; t++)
            {
                var len = j->Start + t + 1;
                state.Begin(j, t, h0);
                for (var p0 = 0; p0 < len; p0 += Block)
                {
                    var b = Math.Min(Block, len - p0);
                    if (whole)
                    {
                        AttendBlock(keys + (long)p0 * hd, new FloatRows(values + (long)p0 * hd), b, j->Scale, ref state);
                        continue;
                    }
                    // The next block's rows are asked for while this block's are widened and used: at depth the cache
                    // has left the CPU's caches (the weights streamed through them since the last step).
                    var ahead = p0 + Block < len ? Block * hd : 0;
                    if (fuseValues)
                    {
                        var first = (long)p0 * hd + kvOff;
                        Widen(j->Keys + first, keys, b * hd, b * hd, ahead);
                        AttendBlock(keys, new HalfRows(j->Values + first, ahead), b, j->Scale, ref state);
                        continue;
                    }
                    WidenRows(j, kvOff, p0, b, keys, values, keyVector, valueVector, ahead);
                    AttendBlock(keys, new FloatRows(values), b, j->Scale, ref state);
                }
                state.End(j, t, h0);
            }
        }
    }

    /// <summary>Widens cache positions p0..p0+count of the task's KV head into rows 0..count of keys and values; where
    /// the rows are one contiguous run, asks for the values <paramref name="ahead"/> past them too (see <see cref="Widen"/>).</summary>
    private static void WidenRows(Job* j, long kvOff, int p0, int count, float* keys, float* values, int keyVector, int valueVector, int ahead = 0)
    {
        var hd = j->HeadDim;
        if (keyVector == hd && valueVector == hd)
        {
            // Every value is widened by the vector form, and the rows are one contiguous run.
            var first = (long)p0 * hd + kvOff;
            Widen(j->Keys + first, keys, count * hd, count * hd, ahead);
            Widen(j->Values + first, values, count * hd, count * hd, ahead);
            return;
        }
        for (var p = 0; p < count; p++)
        {
            var row = (long)(p0 + p) * j->HeadDim + kvOff;
            Widen(j->Keys + row, keys + (long)p * hd, hd, keyVector);
            Widen(j->Values + row, values + (long)p * hd, hd, valueVector);
        }
    }

    /// <summary>
    /// One token's query heads of a task while they walk the cache: queries rounded to fp16, fp16-valued
    /// accumulators, running maxima and sums, and the per-block scratch of <see cref="AttendBlock"/>. Lives in a
    /// thread-static buffer, sized once.
    /// </summary>
    private readonly struct HeadState
    {
        public readonly float* Q, Acc, M, S, Scores, Weights, Factors;
        public readonly int Count, HeadDim;

        [ThreadStatic] private static float[]? _buffer;

        public HeadState(int count, int hd)
        {
            Count = count;
            HeadDim = hd;
            // Scores, weights and factors go eight at a time: Block is a multiple of eight, so a short block's lanes
            // past its end are stale values of this buffer, masked or computed and never used.
            var need = 2 * count * hd + 2 * count + (1 + 2 * count) * Block;
            var buf = _buffer;
            if (buf == null || buf.Length < need) _buffer = buf = GC.AllocateArray<float>(Math.Max(need, 1024), pinned: true);
            var p = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buf));
            Q = p;
            Acc = Q + count * hd;
            M = Acc + count * hd;
            S = M + count;
            Scores = S + count;
            Weights = Scores + Block;
            Factors = Weights + count * Block;
        }

        /// <summary>Token t's queries for heads h0.. (rounded to fp16), empty accumulators.</summary>
        public void Begin(Job* j, int t, int h0)
        {
            var hd = HeadDim;
            for (var g = 0; g < Count; g++)
            {
                var q = new Span<float>(Q + g * hd, hd);
                new ReadOnlySpan<float>(j->Q + (long)t * j->QDim + (h0 + g) * hd, hd).CopyTo(q);
                VectorOps.RoundToHalf(q);
                M[g] = float.NegativeInfinity;
                S[g] = 0;
            }
            new Span<float>(Acc, Count * hd).Clear();
        }

        /// <summary>Writes token t's outputs: each accumulator divided by its sum.</summary>
        public void End(Job* j, int t, int h0)
        {
            var hd = HeadDim;
            for (var g = 0; g < Count; g++)
            {
                var o = j->Out + (long)t * j->QDim + (h0 + g) * hd;
                var acc = Acc + g * hd;
                var inv = S[g] == 0 ? 0 : 1 / S[g];
                for (var i = 0; i < hd; i++) o[i] = acc[i] * inv;
            }
        }
    }

    /// <summary>
    /// One block of <paramref name="b"/> widened key rows and their value rows for every head of <paramref name="h"/>:
    /// per head all the block's scores (independent dots), then the online softmax over them in order, which yields each
    /// position's value weight and where the maximum rose (and by what factor); then every head's running sum
    /// (<see cref="Sums"/>) and accumulator (<see cref="AccumulateHeads"/>).
    /// </summary>
    private static void AttendBlock<TRows>(float* keys, TRows values, int b, float scale, ref HeadState h) where TRows : struct, IValueRows
    {
        var hd = h.HeadDim;
        for (var g = 0; g < h.Count; g++)
        {
            var q = new ReadOnlySpan<float>(h.Q + g * hd, hd);
            var first = 0;
            if (Avx2.IsSupported && hd % 32 == 0)
                for (; first + 8 <= b; first += 8) (Dots8(h.Q + g * hd, keys + first * hd, hd) * Vector256.Create(scale)).Store(h.Scores + first);
            for (var p = first; p < b; p++) h.Scores[p] = DotWidened(q, keys + p * hd) * scale;
            // Online softmax: mg the running maximum (the running sums follow for every head together, in Sums).
            var mg = h.M[g];
            if (ExpF.IsSupported)
                mg = Exponentials(h, b, mg, h.Weights + g * Block, h.Factors + g * Block);
            else
            {
                for (var p = 0; p < b; p++)
                {
                    var score = h.Scores[p];
                    float ms = 1, vs = 1;
                    if (score > mg)
                    {
                        ms = MathF.Exp(mg - score);
                        mg = score;
                    }
                    else
                    {
                        vs = MathF.Exp(score - mg);
                    }
                    h.Weights[g * Block + p] = vs;
                    h.Factors[g * Block + p] = ms;
                }
            }
            h.M[g] = mg;
        }
        Sums(h, b);
        AccumulateHeads(h.Acc, values, hd, h.Count, b, h.Weights, h.Factors);
    }

    /// <summary>
    /// Each head's running sum over the block: s·ms + vs in position order, where ms is 1 (the maximum did not rise)
    /// s + vs exactly. Four heads' chains run in the lanes of one vector (AVX), or else in one scalar loop, so the core
    /// overlaps them instead of waiting out each addition. Against the scalar loop and with the
    /// <see cref="Exponentials"/> shortcut, attention over 960 cached positions took 11 % less time (bench shape,
    /// two threads, modes alternating in one process).
    /// </summary>
    private static void Sums(in HeadState h, int b)
    {
        var g = 0;
        if (Avx.IsSupported)
        {
            // Four heads' chains in the lanes of one vector: s·ms + vs is s + vs exactly where ms is 1, so one
            // multiply and one add per position give both cases. Per eight positions the four heads' rows of weights
            // and factors are turned into eight vectors of four.
            for (; g + 4 <= h.Count; g += 4)
            {
                float* f = h.Factors + g * Block, w = h.Weights + g * Block;
                var s = Vector128.Create(h.S[g], h.S[g + 1], h.S[g + 2], h.S[g + 3]);
                var p = 0;
                for (; p + 8 <= b; p += 8)
                {
                    Turn(w + p, out var w0, out var w1, out var w2, out var w3, out var w4, out var w5, out var w6, out var w7);
                    Turn(f + p, out var f0, out var f1, out var f2, out var f3, out var f4, out var f5, out var f6, out var f7);
                    s = s * f0 + w0; s = s * f1 + w1; s = s * f2 + w2; s = s * f3 + w3;
                    s = s * f4 + w4; s = s * f5 + w5; s = s * f6 + w6; s = s * f7 + w7;
                }
                for (; p < b; p++)
                    s = s * Vector128.Create(f[p], f[Block + p], f[2 * Block + p], f[3 * Block + p])
                        + Vector128.Create(w[p], w[Block + p], w[2 * Block + p], w[3 * Block + p]);
                h.S[g] = s[0]; h.S[g + 1] = s[1]; h.S[g + 2] = s[2]; h.S[g + 3] = s[3];
            }
        }
        for (; g + 4 <= h.Count; g += 4)
        {
            float* f = h.Factors + g * Block, w = h.Weights + g * Block;
            float s0 = h.S[g], s1 = h.S[g + 1], s2 = h.S[g + 2], s3 = h.S[g + 3];
            for (var p = 0; p < b; p++)
            {
                s0 = Add(s0, f[p], w[p]);
                s1 = Add(s1, f[Block + p], w[Block + p]);
                s2 = Add(s2, f[2 * Block + p], w[2 * Block + p]);
                s3 = Add(s3, f[3 * Block + p], w[3 * Block + p]);
            }
            h.S[g] = s0; h.S[g + 1] = s1; h.S[g + 2] = s2; h.S[g + 3] = s3;
        }
        for (; g < h.Count; g++)
        {
            float* f = h.Factors + g * Block, w = h.Weights + g * Block;
            var s = h.S[g];
            for (var p = 0; p < b; p++) s = Add(s, f[p], w[p]);
            h.S[g] = s;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static float Add(float s, float ms, float vs) => ms == 1 ? s + vs : s * ms + vs;

        // Eight values of each of four rows (x, x + Block, x + 2·Block, x + 3·Block) as eight vectors of four, one
        // per position: a 4×4 turn in each 128-bit half.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Turn(float* x, out Vector128<float> p0, out Vector128<float> p1, out Vector128<float> p2, out Vector128<float> p3,
            out Vector128<float> p4, out Vector128<float> p5, out Vector128<float> p6, out Vector128<float> p7)
        {
            var r0 = Vector256.Load(x);
            var r1 = Vector256.Load(x + Block);
            var r2 = Vector256.Load(x + 2 * Block);
            var r3 = Vector256.Load(x + 3 * Block);
            var t0 = Avx.UnpackLow(r0, r1).AsDouble();
            var t1 = Avx.UnpackHigh(r0, r1).AsDouble();
            var t2 = Avx.UnpackLow(r2, r3).AsDouble();
            var t3 = Avx.UnpackHigh(r2, r3).AsDouble();
            var u0 = Avx.UnpackLow(t0, t2).AsSingle();
            var u1 = Avx.UnpackHigh(t0, t2).AsSingle();
            var u2 = Avx.UnpackLow(t1, t3).AsSingle();
            var u3 = Avx.UnpackHigh(t1, t3).AsSingle();
            p0 = u0.GetLower(); p1 = u1.GetLower(); p2 = u2.GetLower(); p3 = u3.GetLower();
            p4 = u0.GetUpper(); p5 = u1.GetUpper(); p6 = u2.GetUpper(); p7 = u3.GetUpper();
        }
    }

    /// <summary>
    /// The online softmax's exponentials for the block's scores, eight positions at a time, bit for bit the one-pass
    /// loop (where a score raises the running maximum m: factor e^(m − score) and weight 1, m = score; elsewhere factor
    /// 1 and weight e^(score − m)): per eight, the running maximum before each position (a prefix maximum in three
    /// shift-and-max steps, seeded with the maximum so far), the same subtractions, <see cref="ExpF.Exp8"/> (expf),
    /// and a select. Lanes past a short block's end count as −∞, so they never raise the maximum. Returns the new
    /// maximum. The maxima are vmaxps (<see cref="Avx.Max(Vector256{float}, Vector256{float})"/>), one instruction where
    /// <see cref="Vector256.Max{T}(Vector256{T}, Vector256{T})"/> takes three for IEEE 754:2019's NaN and signed-zero
    /// rules: on finite scores and −∞ the two differ at most in the sign of a zero maximum, which neither the
    /// comparisons nor the exponentials below can tell (e^±0 = 1).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Exponentials(in HeadState h, int b, float mg, float* weights, float* factors)
    {
        var lane = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        var none = Vector256.Create(float.NegativeInfinity);
        var one = Vector256.Create(1f);
        var up1 = Vector256.Create(0, 0, 1, 2, 3, 4, 5, 6);
        var up2 = Vector256.Create(0, 0, 0, 1, 2, 3, 4, 5);
        var up4 = Vector256.Create(0, 0, 0, 0, 0, 1, 2, 3);
        var exp = ExpF.Lanes8.Load();
        for (var p = 0; p < b; p += 8)
        {
            var score = Vector256.ConditionalSelect(Vector256.LessThan(lane, Vector256.Create(b - p)).AsSingle(), Vector256.Load(h.Scores + p), none);
            var seed = Vector256.Create(mg);
            if (Vector256.LessThanOrEqualAll(score, seed))
            {
                // No position raises the maximum (at depth, nearly every eight): the maximum before each is mg, so the
                // select below would give weights e^(score − mg) and factors 1.
                exp.Exp(score - seed).Store(weights + p);
                one.Store(factors + p);
                continue;
            }
            // Inclusive prefix maximum within the eight, then with the maximum so far; the one before each position is
            // that shifted up one lane, the maximum so far in lane 0.
            var m = Avx.Max(score, Vector256.ConditionalSelect(Vector256.GreaterThan(lane, Vector256.Create(0)).AsSingle(), Avx2.PermuteVar8x32(score, up1), none));
            m = Avx.Max(m, Vector256.ConditionalSelect(Vector256.GreaterThan(lane, Vector256.Create(1)).AsSingle(), Avx2.PermuteVar8x32(m, up2), none));
            m = Avx.Max(m, Vector256.ConditionalSelect(Vector256.GreaterThan(lane, Vector256.Create(3)).AsSingle(), Avx2.PermuteVar8x32(m, up4), none));
            m = Avx.Max(m, seed);
            var before = Vector256.ConditionalSelect(Vector256.GreaterThan(lane, Vector256.Create(0)).AsSingle(), Avx2.PermuteVar8x32(m, up1), seed);
            var rise = Vector256.GreaterThan(score, before);
            var e = exp.Exp(Vector256.ConditionalSelect(rise, before - score, score - before));
            Vector256.ConditionalSelect(rise, one, e).Store(weights + p);
            Vector256.ConditionalSelect(rise, e, one).Store(factors + p);
            mg = m.GetElement(7);
        }
        return mg;
    }

    /// <summary>
    /// <see cref="Accumulate"/> for every head of a task: head g's accumulator at acc + g·hd, its weights and factors at
    /// g·<see cref="Block"/>. Four heads at a time where 512-bit vectors run and the head size is a multiple of 64: the
    /// four heads' accumulator chains are independent, so the core overlaps them, and each value row is loaded once
    /// for the four. Each accumulator value still sees exactly <see cref="Accumulate"/>'s operations in its order.
    /// </summary>
    private static void AccumulateHeads<TRows>(float* acc, TRows values, int hd, int heads, int count, float* weights, float* factors)
        where TRows : struct, IValueRows
    {
        var g = 0;
        if (CanAccumulate4(hd, 4))
            for (; g + 4 <= heads; g += 4)
                Accumulate4(acc + g * hd, values, hd, count, weights + g * Block, factors + g * Block);
        for (; g < heads; g++) Accumulate(acc + g * hd, values.Floats, hd, count, weights + g * Block, factors + g * Block);
    }

    /// <summary>Whether <see cref="Accumulate4"/> takes all of <paramref name="heads"/> heads of size <paramref name="hd"/>.</summary>
    private static bool CanAccumulate4(int hd, int heads) => Vector512.IsHardwareAccelerated && Avx512F.IsSupported && hd % 64 == 0 && heads % 4 == 0;

    /// <summary>A block's value rows, <see cref="Row64"/> at a time.</summary>
    private interface IValueRows
    {
        /// <summary>The 64 values from <paramref name="offset"/> on (row p's values i.. are at p·head size + i).</summary>
        Row64 Load(int offset);

        /// <summary>The rows as floats, for the one-head accumulation.</summary>
        float* Floats { get; }
    }

    /// <summary>Value rows widened to float beforehand.</summary>
    private readonly struct FloatRows(float* rows) : IValueRows
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Row64 Load(int offset) => Row64.Load(rows + offset);

        public float* Floats => rows;
    }

    /// <summary>
    /// Value rows read from the fp16 cache and widened as <see cref="Accumulate4"/> takes them (<see cref="Widen"/>'s
    /// arithmetic, so the same floats): one token's step then neither stores the widened rows nor reads them back. Each
    /// load asks for the row <paramref name="ahead"/> values further on (the next block's, zero for none), spread over
    /// the block's work as <see cref="Widen"/> does. Only where <see cref="Accumulate4"/> takes every head
    /// (<see cref="CanAccumulate4"/>): there are no float rows.
    /// </summary>
    private readonly struct HalfRows(ushort* rows, int ahead) : IValueRows
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Row64 Load(int offset)
        {
            var p = rows + offset;
            if (ahead != 0)
            {
                Sse.PrefetchNonTemporal(p + ahead);
                Sse.PrefetchNonTemporal(p + ahead + 32);
            }
            return new Row64 { X0 = Widen16(p), X1 = Widen16(p + 16), X2 = Widen16(p + 32), X3 = Widen16(p + 48) };
        }

        public float* Floats => throw new InvalidOperationException("fp16 value rows are only read four heads at a time");
    }

    /// <summary>Sixteen fp16 values to float for <see cref="Widen"/> and <see cref="HalfRows"/>: sign-extended to 32 bits,
    /// so bits 31..28 are copies of the sign and the mask keeps the top one; then the AVX2 loop's shift, mask and 2^112.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Widen16(ushort* p) =>
        (Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector256.Load((short*)p)), 13) & Vector512.Create(unchecked((int)0x8FFFE000))).AsSingle()
        * Vector512.Create(5.192297e33f);

    /// <summary>Sixty-four accumulator or value values.</summary>
    private struct Row64
    {
        public Vector512<float> X0, X1, X2, X3;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Row64 Load(float* p) => new() { X0 = Vector512.Load(p), X1 = Vector512.Load(p + 16), X2 = Vector512.Load(p + 32), X3 = Vector512.Load(p + 48) };

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Store(float* p)
        {
            X0.Store(p); X1.Store(p + 16); X2.Store(p + 32); X3.Store(p + 48);
        }

        /// <summary>One position of <see cref="Accumulate"/>: rescaled where the maximum rose, then the value added.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Row64 Step(Row64 a, in Row64 v, float weight, float factor)
        {
            if (factor != 1)
            {
                var f = Vector512.Create(factor);
                a.X0 = RoundToHalf(a.X0 * f); a.X1 = RoundToHalf(a.X1 * f); a.X2 = RoundToHalf(a.X2 * f); a.X3 = RoundToHalf(a.X3 * f);
            }
            var w = Vector512.Create(weight);
            a.X0 = RoundToHalf(Vector512.FusedMultiplyAdd(v.X0, w, a.X0));
            a.X1 = RoundToHalf(Vector512.FusedMultiplyAdd(v.X1, w, a.X1));
            a.X2 = RoundToHalf(Vector512.FusedMultiplyAdd(v.X2, w, a.X2));
            a.X3 = RoundToHalf(Vector512.FusedMultiplyAdd(v.X3, w, a.X3));
            return a;
        }
    }

    /// <summary>Four heads' <see cref="Accumulate"/>, 64 values of each at a time, all in registers across the block.</summary>
    private static void Accumulate4<TRows>(float* acc, TRows values, int hd, int count, float* weight, float* factor) where TRows : struct, IValueRows
    {
        for (var i = 0; i < hd; i += 64)
        {
            var a0 = Row64.Load(acc + i);
            var a1 = Row64.Load(acc + hd + i);
            var a2 = Row64.Load(acc + 2 * hd + i);
            var a3 = Row64.Load(acc + 3 * hd + i);
            for (var p = 0; p < count; p++)
            {
                var row = values.Load(p * hd + i);
                a0 = Row64.Step(a0, row, weight[p], factor[p]);
                a1 = Row64.Step(a1, row, weight[Block + p], factor[Block + p]);
                a2 = Row64.Step(a2, row, weight[2 * Block + p], factor[2 * Block + p]);
                a3 = Row64.Step(a3, row, weight[3 * Block + p], factor[3 * Block + p]);
            }
            a0.Store(acc + i);
            a1.Store(acc + hd + i);
            a2.Store(acc + 2 * hd + i);
            a3.Store(acc + 3 * hd + i);
        }
    }

    /// <summary>
    /// For each position p of a block, in order: where the maximum rose, acc = fp16(acc · factor[p])
    /// (ggml_vec_scale_f16; tested as factor ≠ 1, since a rise whose factor is 1 leaves an fp16-valued accumulator as
    /// it is); then acc = fp16(acc + values[p] · weight[p]) with one rounding of the fused product-sum
    /// (ggml_vec_mad_f16). Each accumulator value's sequence of operations is the one position-at-a-time code does;
    /// only the loops are swapped, so 64 values stay in registers for the whole block.
    /// </summary>
    private static void Accumulate(float* acc, float* values, int hd, int count, float* weight, float* factor)
    {
        var i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 64 <= hd; i += 64)
            {
                var a = Row64.Load(acc + i);
                var v = values + i;
                for (var p = 0; p < count; p++, v += hd) a = Row64.Step(a, Row64.Load(v), weight[p], factor[p]);
                a.Store(acc + i);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 64 <= hd; i += 64)
            {
                var a = acc + i;
                Vector256<float> a0 = Vector256.Load(a), a1 = Vector256.Load(a + 8), a2 = Vector256.Load(a + 16), a3 = Vector256.Load(a + 24);
                Vector256<float> a4 = Vector256.Load(a + 32), a5 = Vector256.Load(a + 40), a6 = Vector256.Load(a + 48), a7 = Vector256.Load(a + 56);
                var v = values + i;
                for (var p = 0; p < count; p++, v += hd)
                {
                    if (factor[p] != 1)
                    {
                        var f = Vector256.Create(factor[p]);
                        a0 = RoundToHalf(a0 * f); a1 = RoundToHalf(a1 * f); a2 = RoundToHalf(a2 * f); a3 = RoundToHalf(a3 * f);
                        a4 = RoundToHalf(a4 * f); a5 = RoundToHalf(a5 * f); a6 = RoundToHalf(a6 * f); a7 = RoundToHalf(a7 * f);
                    }
                    var w = Vector256.Create(weight[p]);
                    a0 = RoundToHalf(Vector256.FusedMultiplyAdd(Vector256.Load(v), w, a0));
                    a1 = RoundToHalf(Vector256.FusedMultiplyAdd(Vector256.Load(v + 8), w, a1));
                    a2 = RoundToHalf(Vector256.FusedMultiplyAdd(Vector256.Load(v + 16), w, a2));
                    a3 = RoundToHalf(Vector256.FusedMultiplyAdd(Vector256.Load(v + 24), w, a3));
                    a4 = RoundToHalf(Vector256.FusedMultiplyAdd(Vector256.Load(v + 32), w, a4));
                    a5 = RoundToHalf(Vector256.FusedMultiplyAdd(Vector256.Load(v + 40), w, a5));
                    a6 = RoundToHalf(Vector256.FusedMultiplyAdd(Vector256.Load(v + 48), w, a6));
                    a7 = RoundToHalf(Vector256.FusedMultiplyAdd(Vector256.Load(v + 56), w, a7));
                }
                a0.Store(a); a1.Store(a + 8); a2.Store(a + 16); a3.Store(a + 24);
                a4.Store(a + 32); a5.Store(a + 40); a6.Store(a + 48); a7.Store(a + 56);
            }
            for (; i + 8 <= hd; i += 8)
            {
                var a0 = Vector256.Load(acc + i);
                var v = values + i;
                for (var p = 0; p < count; p++, v += hd)
                {
                    if (factor[p] != 1) a0 = RoundToHalf(a0 * Vector256.Create(factor[p]));
                    a0 = RoundToHalf(Vector256.FusedMultiplyAdd(Vector256.Load(v), Vector256.Create(weight[p]), a0));
                }
                a0.Store(acc + i);
            }
        }
        for (; i < hd; i++)
        {
            var a = acc[i];
            for (var p = 0; p < count; p++)
            {
                if (factor[p] != 1) a = (float)(Half)(a * factor[p]);
                a = (float)(Half)MathF.FusedMultiplyAdd(values[p * hd + i], weight[p], a);
            }
            acc[i] = a;
        }
    }

    /// <summary>
    /// fp16 to float: the first <paramref name="vector"/> values eight at a time, the rest one by one. The eight-lane
    /// form is <see cref="FastConvert.HalfToSingle8"/>'s arithmetic (magnitude shifted into place, times 2^112, sign
    /// kept) in fewer operations: an arithmetic shift carries the sign along, and the multiply keeps it.
    /// <paramref name="ahead"/> (values; zero for none) asks for the run that far on, one cache line per 32 values,
    /// spread over the loop: the next block's rows, which at depth are no longer in the CPU's caches. Non-temporal,
    /// since a step reads each cached row once. Against asking for the whole next block at the start of each block, as
    /// before (one burst of 128 requests), and with <see cref="HalfRows"/>, attention at 820–1,012 cached positions took
    /// 16–21 % less time (Q4_0 bench model, two threads, modes alternating in one process).
    /// </summary>
    private static void Widen(ushort* src, float* dst, int n, int vector, int ahead = 0)
    {
        var i = 0;
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
        {
            for (; i + 16 <= vector; i += 16)
            {
                if (ahead != 0 && (i & 31) == 0) Sse.PrefetchNonTemporal(src + i + ahead);
                Vector512.Store(Widen16(src + i), dst + i);
            }
        }
        if (Avx2.IsSupported)
        {
            var scale = Vector256.Create(5.192297e33f); // 2^112
            var keep = Vector256.Create(unchecked((int)0x8FFFE000));
            for (; i < vector; i += 8)
            {
                if (ahead != 0 && (i & 31) == 0) Sse.PrefetchNonTemporal(src + i + ahead);
                var bits = Avx2.ShiftRightArithmetic(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(src + i), 16), 3) & keep;
                Vector256.Store(bits.AsSingle() * scale, dst + i);
            }
        }
        else
        {
            for (; i < vector; i += 8) Vector256.Store(FastConvert.HalfToSingle8(Vector128.Load(src + i)), dst + i);
        }
        for (; i < n; i++) dst[i] = (float)BitConverter.UInt16BitsToHalf(src[i]);
    }

    /// <summary>
    /// Dot of an fp16-valued query and a widened fp16 cache row in ggml_vec_dot_f16's order (AVX2: four 8-lane fused
    /// accumulators per 32 values, reduced pairwise; the remainder added in double). Widening fp16 to float is exact.
    /// </summary>
    private static float DotWidened(ReadOnlySpan<float> a, float* b)
    {
        var n = a.Length;
        var np = Vector256.IsHardwareAccelerated ? n & ~31 : 0;
        double sum = 0;
        if (np > 0)
        {
            var va = MemoryMarshal.Cast<float, Vector256<float>>(a[..np]);
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (var i = 0; i < va.Length; i += 4)
            {
                var bi = b + i * 8;
                s0 = Vector256.FusedMultiplyAdd(va[i], Vector256.Load(bi), s0);
                s1 = Vector256.FusedMultiplyAdd(va[i + 1], Vector256.Load(bi + 8), s1);
                s2 = Vector256.FusedMultiplyAdd(va[i + 2], Vector256.Load(bi + 16), s2);
                s3 = Vector256.FusedMultiplyAdd(va[i + 3], Vector256.Load(bi + 24), s3);
            }
            var r = (s0 + s2) + (s1 + s3);
            var h = r.GetLower() + r.GetUpper();
            sum = (h[0] + h[1]) + (h[2] + h[3]);
        }
        for (var i = np; i < n; i++) sum += (double)(a[i] * b[i]);
        return (float)sum;
    }

    /// <summary>
    /// <see cref="DotWidened"/> of one query with eight consecutive widened rows (head size a multiple of 32), bit for
    /// bit: each row's four accumulators as there, then the same reduction tree (the two halves' sum, then pairs, then
    /// the pairs' sums) done for the eight rows together with cross-row adds instead of one row's lanes at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Dots8(float* q, float* rows, int hd)
    {
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported) return Dots8Wide(q, rows, hd);
        // Per four rows: lower plus upper half of each row, two rows per vector ([row a's four | row b's four]), then
        // (h0 + h1) and (h2 + h3) per row; lanes: rows 0, 2 | 1, 3 (of the four). Their sums: rows 0, 2, 4, 6 | 1, 3, 5, 7.
        var sums = Avx.HorizontalAdd(Rows4(q, rows, hd), Rows4(q, rows + 4 * hd, hd));
        return Avx2.PermuteVar8x32(sums, Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7));

        // Four rows at a time, each query vector loaded once for the four: each row's own four accumulators, in
        // DotWidened's order, then each row's (s0 + s2) + (s1 + s3).
        static Vector256<float> Rows4(float* q, float* k, int hd)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
            Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
            Vector256<float> d0 = default, d1 = default, d2 = default, d3 = default;
            float* ka = k, kb = k + hd, kc = k + 2 * hd, kd = k + 3 * hd;
            for (var i = 0; i < hd; i += 32)
            {
                var q0 = Vector256.Load(q + i);
                var q1 = Vector256.Load(q + i + 8);
                var q2 = Vector256.Load(q + i + 16);
                var q3 = Vector256.Load(q + i + 24);
                a0 = Vector256.FusedMultiplyAdd(q0, Vector256.Load(ka + i), a0);
                a1 = Vector256.FusedMultiplyAdd(q1, Vector256.Load(ka + i + 8), a1);
                a2 = Vector256.FusedMultiplyAdd(q2, Vector256.Load(ka + i + 16), a2);
                a3 = Vector256.FusedMultiplyAdd(q3, Vector256.Load(ka + i + 24), a3);
                b0 = Vector256.FusedMultiplyAdd(q0, Vector256.Load(kb + i), b0);
                b1 = Vector256.FusedMultiplyAdd(q1, Vector256.Load(kb + i + 8), b1);
                b2 = Vector256.FusedMultiplyAdd(q2, Vector256.Load(kb + i + 16), b2);
                b3 = Vector256.FusedMultiplyAdd(q3, Vector256.Load(kb + i + 24), b3);
                c0 = Vector256.FusedMultiplyAdd(q0, Vector256.Load(kc + i), c0);
                c1 = Vector256.FusedMultiplyAdd(q1, Vector256.Load(kc + i + 8), c1);
                c2 = Vector256.FusedMultiplyAdd(q2, Vector256.Load(kc + i + 16), c2);
                c3 = Vector256.FusedMultiplyAdd(q3, Vector256.Load(kc + i + 24), c3);
                d0 = Vector256.FusedMultiplyAdd(q0, Vector256.Load(kd + i), d0);
                d1 = Vector256.FusedMultiplyAdd(q1, Vector256.Load(kd + i + 8), d1);
                d2 = Vector256.FusedMultiplyAdd(q2, Vector256.Load(kd + i + 16), d2);
                d3 = Vector256.FusedMultiplyAdd(q3, Vector256.Load(kd + i + 24), d3);
            }
            return Pairs((a0 + a2) + (a1 + a3), (b0 + b2) + (b1 + b3), (c0 + c2) + (c1 + c3), (d0 + d2) + (d1 + d3));
        }

        // Lower plus upper half of each row, two rows per vector ([row a's four | row b's four]), then (h0 + h1) and
        // (h2 + h3) per row.
        static Vector256<float> Pairs(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3)
        {
            var h01 = Avx.Permute2x128(r0, r1, 0x20) + Avx.Permute2x128(r0, r1, 0x31);
            var h23 = Avx.Permute2x128(r2, r3, 0x20) + Avx.Permute2x128(r2, r3, 0x31);
            return Avx.HorizontalAdd(h01, h23);
        }
    }

    /// <summary>
    /// <see cref="Dots8"/> with 512-bit vectors, bit for bit: ggml's four 8-lane accumulators two to a vector (lanes
    /// 0-7 hold s0 or s2, lanes 8-15 s1 or s3, each lane's products added in the same order), so a row is four fused
    /// multiply-adds per 64 values; then the same reduction tree for all eight rows at once with whole-vector adds:
    /// (s0 + s2) + (s1 + s3), the halves' sum (lower + upper eight), the quarters' sum (lower + upper four), then
    /// (h0 + h1) + (h2 + h3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Dots8Wide(float* q, float* k, int hd)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        for (var i = 0; i < hd; i += 32)
        {
            var q01 = Vector512.Load(q + i);
            var q23 = Vector512.Load(q + i + 16);
            var r = k + i;
            a0 = Vector512.FusedMultiplyAdd(q01, Vector512.Load(r), a0); b0 = Vector512.FusedMultiplyAdd(q23, Vector512.Load(r + 16), b0); r += hd;
            a1 = Vector512.FusedMultiplyAdd(q01, Vector512.Load(r), a1); b1 = Vector512.FusedMultiplyAdd(q23, Vector512.Load(r + 16), b1); r += hd;
            a2 = Vector512.FusedMultiplyAdd(q01, Vector512.Load(r), a2); b2 = Vector512.FusedMultiplyAdd(q23, Vector512.Load(r + 16), b2); r += hd;
            a3 = Vector512.FusedMultiplyAdd(q01, Vector512.Load(r), a3); b3 = Vector512.FusedMultiplyAdd(q23, Vector512.Load(r + 16), b3); r += hd;
            a4 = Vector512.FusedMultiplyAdd(q01, Vector512.Load(r), a4); b4 = Vector512.FusedMultiplyAdd(q23, Vector512.Load(r + 16), b4); r += hd;
            a5 = Vector512.FusedMultiplyAdd(q01, Vector512.Load(r), a5); b5 = Vector512.FusedMultiplyAdd(q23, Vector512.Load(r + 16), b5); r += hd;
            a6 = Vector512.FusedMultiplyAdd(q01, Vector512.Load(r), a6); b6 = Vector512.FusedMultiplyAdd(q23, Vector512.Load(r + 16), b6); r += hd;
            a7 = Vector512.FusedMultiplyAdd(q01, Vector512.Load(r), a7); b7 = Vector512.FusedMultiplyAdd(q23, Vector512.Load(r + 16), b7);
        }
        // Per row [s0 + s2 | s1 + s3]; then two rows per vector, [row r's eight | row r+1's eight], lower + upper.
        Vector512<float> u01 = Halves(a0 + b0, a1 + b1), u23 = Halves(a2 + b2, a3 + b3), u45 = Halves(a4 + b4, a5 + b5), u67 = Halves(a6 + b6, a7 + b7);
        // Four rows per vector, [row r's four | ... | row r+3's four]: lower + upper four.
        var h0123 = Avx512F.Shuffle4x128(u01, u23, 0b10_00_10_00) + Avx512F.Shuffle4x128(u01, u23, 0b11_01_11_01);
        var h4567 = Avx512F.Shuffle4x128(u45, u67, 0b10_00_10_00) + Avx512F.Shuffle4x128(u45, u67, 0b11_01_11_01);
        // Within each 128-bit lane k: (h0 + h1), (h2 + h3) of rows k and k+4, then their sums.
        var pairs = Avx512F.Shuffle(h0123, h4567, 0b10_00_10_00) + Avx512F.Shuffle(h0123, h4567, 0b11_01_11_01);
        var sums = Avx512F.Shuffle(pairs, pairs, 0b10_00_10_00) + Avx512F.Shuffle(pairs, pairs, 0b11_01_11_01);
        // Row k sits in lane k's first element, row k+4 in its second.
        return Avx512F.PermuteVar16x32(sums, Vector512.Create(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0)).GetLower();

        static Vector512<float> Halves(Vector512<float> x, Vector512<float> y) =>
            Avx512F.Shuffle4x128(x, y, 0b01_00_01_00) + Avx512F.Shuffle4x128(x, y, 0b11_10_11_10);
    }

    /// <summary>
    /// Eight values rounded to fp16 precision, bit for bit <see cref="VectorOps.RoundToHalf(Vector256{float})"/> for
    /// every |x| below 2^115 (an accumulator of fp16 values weighted by at most 1 stays far below), in half its
    /// operations, since it runs once per cached position and head: adding and removing 1.5 · 2^(e+13), e the exponent
    /// of x (at least -14, fp16's subnormal step), leaves x rounded to a multiple of 2^(e-10), ties to even, by the
    /// float adder itself; 2^-14 gives 0.75, the constant of the subnormal case there.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> RoundToHalf(Vector256<float> x)
    {
        var e = Vector256.Max(x.AsInt32() & Vector256.Create(0x7F800000), Vector256.Create(0x38800000));
        var magic = (e + Vector256.Create((13 << 23) | 0x400000)).AsSingle();
        return (x + magic) - magic;
    }

    /// <summary><see cref="RoundToHalf(Vector256{float})"/> for sixteen values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> RoundToHalf(Vector512<float> x)
    {
        var e = Vector512.Max(x.AsInt32() & Vector512.Create(0x7F800000), Vector512.Create(0x38800000));
        var magic = (e + Vector512.Create((13 << 23) | 0x400000)).AsSingle();
        return (x + magic) - magic;
    }
}
