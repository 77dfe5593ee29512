using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using Rbee.Worker.Gguf;

namespace Rbee.Worker.Kernels;

/// <summary>
/// The engine's entry points into the kernels. The model calls only these; the kernels pick the SIMD path per type.
/// Quantized weights (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) meet activations quantized once per call to 8 bits
/// (<see cref="Q8Activations"/>) in integer dot products (<see cref="DecodeDot"/> for one token where AVX-VNNI is
/// present, <see cref="QuantDot"/> otherwise; several tokens of a prompt go through <see cref="PanelGemm"/>'s decoded
/// panels and register tiles, or <see cref="QuantDot4"/> for a type it lacks); F32/F16/BF16 rows are dotted in
/// float; every other type (and every type on a CPU without AVX2) is decoded to float per row and dotted.
/// Rows are split over <see cref="ComputePool.Shared"/>; a call allocates nothing once its thread's buffers exist.
/// </summary>
public static unsafe class MatMul
{
    /// <summary>
    /// False routes every type through the portable decode-to-float path instead of the integer kernels: the
    /// benchmark's in-run baseline, and a switch for diagnosing a suspected kernel fault. Default true.
    /// </summary>
    public static bool IntegerKernels { get; set; } = true;

    /// <summary>
    /// False sends prefill back to the four-token kernels (<see cref="QuantDot4"/>) instead of <see cref="PanelGemm"/>:
    /// the benchmark's before/after in one run. Default true.
    /// </summary>
    public static bool PrefillPanels { get; set; } = true;

    /// <summary>y[r] = Σ_c W[r,c]·x[c] for every row r. x has W.Cols values, y has W.Rows.</summary>
    public static void MatVec(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y) => MatMat(w, x, 1, y);

    /// <summary>Y[n, r] = Σ_c W[r,c]·X[n, c] for n tokens: X is n×Cols, Y is n×Rows, both row-major.</summary>
    public static void MatMat(in WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y) =>
        MatMat(w, x, n, y, ComputePool.Shared, IntegerKernels);

    /// <summary>
    /// Y[n, r] = Σ_c W[r,c]·X[n, c] for n independent sequences (one decode token each), batch-invariant: every output
    /// is computed by exactly the routine <see cref="MatVec"/> uses for one token, so a sequence's result is bit for
    /// bit the same whatever else shares the call. The loops are interleaved instead: each weight row is loaded once
    /// and dotted with every sequence's activations while it is hot in cache, so n sequences read the weights once.
    /// (<see cref="MatMat(in WeightMatrix, ReadOnlySpan{float}, int, Span{float})"/> may use four-token kernels whose
    /// reduction order differs; that is fine within one prompt, not across requests.)
    /// </summary>
    public static void MatMatInvariant(in WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y) =>
        MatMat(w, x, n, y, ComputePool.Shared, IntegerKernels, invariant: true);

    /// <summary>As <see cref="MatMat(in WeightMatrix, ReadOnlySpan{float}, int, Span{float})"/> on a given pool;
    /// <paramref name="intPath"/> false forces the portable decode-to-float path (tests compare the two);
    /// <paramref name="invariant"/> as <see cref="MatMatInvariant"/>.</summary>
    internal static void MatMat(in WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y, ComputePool pool, bool intPath,
        bool invariant = false)
    {
        Check(w, x, n, y);
        if (n == 0 || w.Rows == 0) return;
        fixed (float* px = x)
        fixed (float* py = y)
        {
            var job = NewJob(w, px, py, n, pool, intPath, invariant);
            if (job.Kind == Kind.Int8) Quantize(ref job, ref job, ref job, 1, px, n, pool);
            pool.Run(&RunTask, &job, Tasks(job));
        }
    }

    /// <summary>
    /// Several matrices of one input (a layer's Wq, Wk and Wv, or Wgate and Wup), each result bit for bit its own
    /// <see cref="MatMat(in WeightMatrix, ReadOnlySpan{float}, int, Span{float})"/> (or, with <paramref name="invariant"/>,
    /// <see cref="MatMatInvariant"/>): the activations are quantized once for all of them, and one pass of the pool runs
    /// every matrix's rows, so the threads meet once instead of once per matrix. <paramref name="w2"/> may be null.
    /// </summary>
    public static void MatMatGroup(ReadOnlySpan<float> x, int n, bool invariant, in WeightMatrix w0, Span<float> y0,
        in WeightMatrix w1, Span<float> y1, WeightMatrix? w2 = null, Span<float> y2 = default)
    {
        var pool = ComputePool.Shared;
        var intPath = IntegerKernels;
        if (w1.Cols != w0.Cols || (w2 is { } other && other.Cols != w0.Cols))
            throw new ArgumentException($"a group's matrices read one input: {w0.Cols}, {w1.Cols}{(w2 is { } o ? $" and {o.Cols}" : "")} columns");
        Check(w0, x, n, y0);
        Check(w1, x, n, y1);
        if (w2 is { } c) Check(c, x, n, y2);
        if (n == 0) return;
        fixed (float* px = x)
        fixed (float* p0 = y0)
        fixed (float* p1 = y1)
        fixed (float* p2 = y2)
        {
            var g = new Group
            {
                J0 = NewJob(w0, px, p0, n, pool, intPath, invariant),
                J1 = NewJob(w1, px, p1, n, pool, intPath, invariant),
            };
            var count = 2;
            if (w2 is { } w)
            {
                g.J2 = NewJob(w, px, p2, n, pool, intPath, invariant);
                count = 3;
            }
            if (!Quantize(ref g.J0, ref g.J1, ref g.J2, count, px, n, pool))
            {
                // Integer matrices that want activations in different formats (a Q8_0 and a K-quant): one at a time.
                MatMat(w0, x, n, y0, pool, intPath, invariant);
                MatMat(w1, x, n, y1, pool, intPath, invariant);
                if (w2 is { } w3) MatMat(w3, x, n, y2, pool, intPath, invariant);
                return;
            }
            g.End0 = Tasks(g.J0);
            g.End1 = g.End0 + Tasks(g.J1);
            pool.Run(&RunGroupTask, &g, g.End1 + (count == 3 ? Tasks(g.J2) : 0));
        }
    }

    private static void Check(in WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        if (x.Length < (long)n * w.Cols || y.Length < (long)n * w.Rows)
            throw new ArgumentException($"x ({x.Length}) or y ({y.Length}) too short for {n} tokens of a {w.Rows}×{w.Cols} matrix");
        if (n > 0 && w.Rows > 0)
            _ = GgmlTypeInfo.Layout(w.Type) ?? throw new NotSupportedException($"tensor type {w.Type} has no kernel");
    }

    /// <summary>A matrix's job, its activations not yet quantized (<see cref="Quantize"/>).</summary>
    private static Job NewJob(in WeightMatrix w, float* px, float* py, int n, ComputePool pool, bool intPath, bool invariant)
    {
        var job = new Job { W = w, X = px, Y = py, N = n, Kind = KindOf(w.Type, intPath), Invariant = invariant || n == 1 };
        // Enough tasks for the dynamic split to even out a loaded machine, few enough to keep each a few rows. Decode
        // (invariant: one token per sequence) takes four per thread: every task costs ~0.3 µs beyond its rows, and
        // against eight per thread one-sequence steps took 6–7 % less time on Q4_0, Q4_K_M and F16, four-sequence
        // steps 3 % less on Q4_0 and Q4_K_M (bench shape, 2 threads, alternating in one process; sixteen per thread
        // was slower still, two or three no better than four).
        var threads = pool.Threads;
        var rowsPerTask = threads == 1 ? w.Rows : Math.Max(4, w.Rows / (threads * (job.Invariant ? 4 : 8)));
        // Prefill: up to eight of PanelGemm's eight-row panels per task. Each panel asks for the next one's weights
        // while it is swept, but a task's first panel finds its weights in memory, not in this core's L2 (the task
        // before it may have run on another core): at two panels per task half of all panels started that way, and
        // eight against two gave pp512 2–13 % more on F16, Q4_0 and Q4_K_M, Q8_0 within noise (sixteen: no better).
        // Batched decode (invariant) keeps the decode split: at 16 rows per task its four-sequence steps ran 25 %
        // slower (Q4_0 bench model, 2 threads: 13.7 against 10.9 ms).
        if (n > 1 && !job.Invariant) rowsPerTask = Math.Clamp(rowsPerTask & ~(PanelGemm.IntRows - 1), PanelGemm.IntRows, 8 * PanelGemm.IntRows);
        job.RowsPerTask = rowsPerTask;
        return job;
    }

    private static int Tasks(in Job job) => job.W.Rows == 0 ? 0 : (job.W.Rows + job.RowsPerTask - 1) / job.RowsPerTask;

    private static ActivationFormat FormatOf(GgmlType type) =>
        type is GgmlType.Q8_0 or GgmlType.Q4_0 ? ActivationFormat.Q8_0 : ActivationFormat.Q8_K;

    /// <summary>
    /// Quantizes the input (the same columns for every job) once for the first <paramref name="count"/> jobs' integer
    /// kernels (this thread's buffer; a prompt step's tokens split over <paramref name="pool"/>) and fills whichever of
    /// its layouts they read; false when two of them want different formats.
    /// </summary>
    private static bool Quantize(ref Job j0, ref Job j1, ref Job j2, int count, float* px, int n, ComputePool pool)
    {
        ActivationFormat? format = null;
        for (var i = 0; i < count; i++)
        {
            ref var j = ref i == 0 ? ref j0 : ref i == 1 ? ref j1 : ref j2;
            if (j.Kind != Kind.Int8) continue;
            var f = FormatOf(j.W.Type);
            if (format is { } other && other != f) return false;
            format = f;
        }
        if (format is not { } chosen) return true;
        // Batched decode of 2, 3, 6, 7 … sequences: zeros to a multiple of four let a last two or three run as four
        // (RunTask; where a type has two-sequence kernels, a last two take those and the zeros go unread).
        var pad = j0.Invariant && n % 4 >= 2 ? 4 - n % 4 : 0;
        // The Q4_0 kernels' layouts come with the quantizing, token by token; a batched decode step's tokens are then
        // shared out over the pool instead of done here while it waits.
        var pairs = false;
        for (var i = 0; i < count; i++)
        {
            ref var j = ref i == 0 ? ref j0 : ref i == 1 ? ref j1 : ref j2;
            pairs |= j.Kind == Kind.Int8 && ReadsPairs(j, n);
        }
        var a = Q8Activations.Quantize(px, j0.W.Cols, n, chosen, pad, pool, pairs, eachToken: j0.Invariant);
        var tiles = false;
        for (var i = 0; i < count; i++)
        {
            ref var j = ref i == 0 ? ref j0 : ref i == 1 ? ref j1 : ref j2;
            if (j.Kind != Kind.Int8) continue;
            j.XQ = a.Q;
            j.XD = a.D;
            j.XS = a.Sum16;
            j.XI = a.IntSum16;
            j.Padded = pad != 0;
            if (UsesPanels(j.W, n, j.Invariant))
            {
                if (!tiles) a.FillTiles(pool);
                tiles = true;
                j.XT = a.Tiles;
                j.TD = a.TileD;
                j.TS = a.TileSum32;
            }
            else if (ReadsPairs(j, n))
            {
                j.XP = a.Pairs;
                j.XL = a.Lanes;
                j.WideLanes = a.WideLanes;
                j.XO = a.Offsets;
            }
        }
        return true;
    }

    /// <summary>Whether an integer job reads its activations in <see cref="Q8Activations.Pairs"/> and
    /// <see cref="Q8Activations.Lanes"/> order (Q4_0 through <see cref="DecodeDot"/>, not through panels).</summary>
    private static bool ReadsPairs(in Job j, int n) =>
        !UsesPanels(j.W, n, j.Invariant) && j.W.Type == GgmlType.Q4_0 && DecodeDot.IsSupported;

    /// <summary>Up to three jobs of one pool pass: tasks [0, End0) are J0's, [End0, End1) J1's, the rest J2's.</summary>
    private struct Group
    {
        public Job J0, J1, J2;
        public int End0, End1;
    }

    private static void RunGroupTask(void* ctx, int task)
    {
        var g = (Group*)ctx;
        if (task < g->End0) RunTask(&g->J0, task);
        else if (task < g->End1) RunTask(&g->J1, task - g->End0);
        else RunTask(&g->J2, task - g->End1);
    }

    private enum Kind { Int8, F32, F16, BF16, Decode }

    private static Kind KindOf(GgmlType type, bool intPath) => type switch
    {
        GgmlType.F32 => Kind.F32,
        GgmlType.F16 when QuantDot.IsSupported => Kind.F16,
        GgmlType.BF16 when QuantDot.IsSupported => Kind.BF16,
        GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K
            when intPath && QuantDot.IsSupported => Kind.Int8,
        _ => Kind.Decode,
    };

    private struct Job
    {
        public WeightMatrix W;
        public float* X;
        public float* Y;
        public int N;
        public Kind Kind;
        public sbyte* XQ;
        public float* XD;
        public float* XS;
        public sbyte* XP;

        /// <summary>The activations' <see cref="Q8Activations.Offsets"/> (Q4_0 with <see cref="DecodeDot"/>).</summary>
        public int* XO;

        /// <summary>The activations' <see cref="Q8Activations.IntSum16"/> (Q8_K format).</summary>
        public short* XI;

        /// <summary>The activations in <see cref="Q8Activations.Lanes"/> order (Q4_0 with <see cref="DecodeDot"/>).</summary>
        public sbyte* XL;

        /// <summary><see cref="XL"/> is in <see cref="Q8Activations.WideLanes"/> order.</summary>
        public bool WideLanes;
        public byte* XT;
        public float* TD;
        public float* TS;
        public int RowsPerTask;

        /// <summary>Every token through the one-token routine, row by row (<see cref="MatMatInvariant"/>).</summary>
        public bool Invariant;

        /// <summary>The activations hold sequences of zeros after <see cref="N"/>, up to a multiple of four (<see cref="Quantize"/>).</summary>
        public bool Padded;
    }

    [ThreadStatic] private static float[]? _rowBuffer;

    /// <summary>Whether the job's type has a four-sequence batch-invariant kernel (<see cref="InvariantQuad"/>).</summary>
    private static bool HasInvariantQuad(in Job j) => j.W.Type switch
    {
        GgmlType.Q8_0 => true,
        GgmlType.Q4_K or GgmlType.Q6_K => DecodeDot.IsSupported,
        GgmlType.Q4_0 => j.XP != null,
        _ => false,
    };

    /// <summary>Rows [r0, r1) dotted with sequences s..s+3 (s..s+1 with <paramref name="two"/>) by Q4_0's or Q6_K's wide
    /// kernels in one call (results at y[r − r0 + k·ystride]), asking for the weights up to <paramref name="prefetchEnd"/>
    /// ahead (null: not).</summary>
    private static void WideRows(in Job j, int r0, int r1, int s, byte* prefetchEnd, float* y, long ystride, bool two = false)
    {
        var w = j.W;
        var cols = w.Cols;
        var blocks32 = cols / 32;
        byte* row = w.Row(r0);
        sbyte* xq = j.XQ + (long)s * cols;
        float* xd = j.XD + (long)s * blocks32;
        if (w.Type == GgmlType.Q4_0)
        {
            sbyte* xl = j.XL + (long)s * cols;
            int* xo = j.XO + (long)s * blocks32;
            if (two) DecodeDot.Q4_0x2WideRows(row, w.RowBytes, r1 - r0, prefetchEnd, blocks32, xq, xl, xd, xo, cols, y, ystride);
            else DecodeDot.Q4_0x4WideRows(row, w.RowBytes, r1 - r0, prefetchEnd, blocks32, xq, xl, xd, xo, cols, y, ystride);
        }
        else
        {
            short* xi = j.XI + (long)s * (cols / 16);
            if (two) DecodeDot.Q6_Kx2WideRows(row, w.RowBytes, r1 - r0, prefetchEnd, cols / 256, xq, xd, xi, cols, y, ystride);
            else DecodeDot.Q6_Kx4WideRows(row, w.RowBytes, r1 - r0, prefetchEnd, cols / 256, xq, xd, xi, cols, y, ystride);
        }
    }

    /// <summary>Outputs of a padded four's rows (<see cref="WideRows"/>), per thread.</summary>
    [ThreadStatic] private static float[]? _padScratch;

    /// <summary>
    /// Row <paramref name="row"/> dotted with sequences s..s+3, each result bit for bit its one-sequence kernel's
    /// (<see cref="DotInt8"/>), written <paramref name="ystride"/> apart from <paramref name="y"/>: four sequences share
    /// each weight load and unpacking.
    /// </summary>
    private static void InvariantQuad(in Job j, byte* row, int s, float* y, long ystride)
    {
        var cols = j.W.Cols;
        var blocks32 = cols / 32;
        var xq = j.XQ + (long)s * cols;
        var xd = j.XD + (long)s * blocks32;
        var xs = j.XS + (long)s * blocks32 * 2;
        switch (j.W.Type)
        {
            case GgmlType.Q8_0:
                QuantDot.Q8_0x4(row, blocks32, xq, xd, cols, y, ystride);
                break;
            case GgmlType.Q4_K:
                DecodeDot.Q4_Kx4(row, cols / 256, xq, xd, xs, cols, y, ystride);
                break;
            case GgmlType.Q4_0:
                if (j.WideLanes) DecodeDot.Q4_0x4Wide(row, blocks32, xq, j.XL + (long)s * cols, xd, j.XO + (long)s * blocks32, cols, y, ystride);
                else DecodeDot.Q4_0x4(row, blocks32, xq, j.XL + (long)s * cols, xd, j.XO + (long)s * blocks32, cols, y, ystride);
                break;
            case GgmlType.Q6_K:
                if (DecodeDot.IsWideSupported) DecodeDot.Q6_Kx4Wide(row, cols / 256, xq, xd, j.XI + (long)s * (cols / 16), cols, y, ystride);
                else DecodeDot.Q6_Kx4(row, cols / 256, xq, xd, j.XI + (long)s * (cols / 16), cols, y, ystride);
                break;
            default:
                throw new InvalidOperationException($"no four-sequence kernel for {j.W.Type}");
        }
    }

    /// <summary>How far ahead of the row being dotted a decode task asks for its weights (bytes).</summary>
    private const int PrefetchDistance = 2048;

    /// <summary>
    /// Asks for the weight bytes <see cref="PrefetchDistance"/> past <paramref name="row"/>'s, one row's worth, up to
    /// the end of the task's rows (<paramref name="taskEnd"/>). A decode task streams its rows from memory once; once
    /// the kernels' compute per row grew (four sequences per row), the hardware prefetchers alone left each thread
    /// alternating between waiting for a row and computing on it. Asked this far ahead, the next rows arrive while
    /// this one is computed: batched decode of four (Q4_0 bench model, 2 threads, short contexts) 9.1–10.5 → 8.3–9.7 ms
    /// per step, one sequence 5.4–5.8 → 5.2–5.6 ms, in eight alternating pairs (bench/Rbee.Bench.Engine/README.md).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void PrefetchAhead(byte* row, long rowBytes, byte* taskEnd)
    {
        if (!Sse.IsSupported) return;
        var from = row + PrefetchDistance;
        var end = from + rowBytes < taskEnd ? from + rowBytes : taskEnd;
        for (var p = from; p < end; p += 64) Sse.Prefetch0(p);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunTask(void* ctx, int task)
    {
        ref var j = ref *(Job*)ctx;
        var w = j.W;
        var r0 = task * j.RowsPerTask;
        var r1 = Math.Min(w.Rows, r0 + j.RowsPerTask);
        var cols = w.Cols;
        var rows = w.Rows;
        switch (j.Kind)
        {
            case Kind.Int8:
            {
                var blocks32 = cols / 32;
                if (j.Invariant)
                {
                    // A last three sequences run as four, the fourth the zeros Quantize padded the activations with
                    // (one four-sequence call costs well under three one-sequence ones); a last two take the wide
                    // two-sequence kernels where the type has them, else run as four too.
                    var quad = HasInvariantQuad(j);
                    var full = quad ? j.N & ~3 : 0;
                    var padded = quad && j.Padded && j.N - full >= 2;
                    var taskEnd = w.Row(r1 - 1) + w.RowBytes;
                    // Q4_0's and Q6_K's wide kernels take the task's rows in one call per four sequences (the first call
                    // prefetching); a padded four writes to this thread's scratch, and its real sequences are copied out.
                    var wide = quad && ((w.Type == GgmlType.Q4_0 && j.WideLanes) || (w.Type == GgmlType.Q6_K && DecodeDot.IsWideSupported));
                    var done = 0;
                    if (wide)
                    {
                        for (; done < full; done += 4) WideRows(j, r0, r1, done, done == 0 ? taskEnd : null, j.Y + (long)done * rows + r0, rows);
                        // A last two: the two-sequence kernel, not four's dots for two of zeros.
                        if (j.N - full == 2)
                        {
                            WideRows(j, r0, r1, full, full == 0 ? taskEnd : null, j.Y + (long)full * rows + r0, rows, two: true);
                            return;
                        }
                        if (padded)
                        {
                            var count = r1 - r0;
                            var scratch = _padScratch is { } b && b.Length >= 4 * count ? b : _padScratch = new float[Math.Max(4 * count, 1024)];
                            fixed (float* spareRows = scratch)
                            {
                                WideRows(j, r0, r1, full, full == 0 ? taskEnd : null, spareRows, count);
                                for (; done < j.N; done++)
                                    new ReadOnlySpan<float>(spareRows + (long)(done - full) * count, count).CopyTo(new Span<float>(j.Y + (long)done * rows + r0, count));
                            }
                        }
                        if (done == j.N) return; // every sequence done: no row is left to visit
                    }
                    var spare = stackalloc float[4];
                    for (var r = r0; r < r1; r++)
                    {
                        var row = w.Row(r);
                        if (done == 0) PrefetchAhead(row, w.RowBytes, taskEnd);
                        var s = done;
                        for (; s < full; s += 4) InvariantQuad(j, row, s, j.Y + (long)s * rows + r, rows);
                        if (padded && s == full)
                        {
                            InvariantQuad(j, row, s, spare, 1);
                            for (; s < j.N; s++) j.Y[(long)s * rows + r] = spare[s - full];
                        }
                        for (; s < j.N; s++)
                            j.Y[(long)s * rows + r] = DotInt8(w.Type, row, cols, j.XQ + (long)s * cols,
                                j.XP == null ? null : j.XP + (long)s * cols, j.XD + (long)s * blocks32, j.XS + (long)s * blocks32 * 2,
                                j.XO == null ? null : j.XO + (long)s * blocks32, j.XI + (long)s * (cols / 16));
                    }
                    return;
                }
                if (UsesPanels(w, j.N, false))
                {
                    PanelGemm.Int8(w, r0, r1, j.N, j.XT, j.TD, j.TS, j.Y, PanelGemm.Vnni);
                    return;
                }
                var t = 0;
                // Four tokens at a time share each unpacked weight block (prefill); the rest go one by one.
                if (HasQuad(w.Type))
                {
                    for (; t + 4 <= j.N; t += 4)
                    {
                        var xq = j.XQ + (long)t * cols;
                        var xd = j.XD + (long)t * blocks32;
                        var xs = j.XS + (long)t * blocks32 * 2;
                        var yt = j.Y + (long)t * rows;
                        for (var r = r0; r < r1; r++) DotInt8x4(w.Type, w.Row(r), cols, xq, xd, xs, yt + r, rows);
                    }
                }
                for (; t < j.N; t++)
                {
                    var xq = j.XQ + (long)t * cols;
                    var xd = j.XD + (long)t * blocks32;
                    var xs = j.XS + (long)t * blocks32 * 2;
                    var yt = j.Y + (long)t * rows;
                    var xp = j.XP == null ? null : j.XP + (long)t * cols;
                    var xo = j.XO == null ? null : j.XO + (long)t * blocks32;
                    var xi = j.XI + (long)t * (cols / 16);
                    var taskEnd = w.Row(r1 - 1) + w.RowBytes;
                    for (var r = r0; r < r1; r++)
                    {
                        PrefetchAhead(w.Row(r), w.RowBytes, taskEnd);
                        yt[r] = DotInt8(w.Type, w.Row(r), cols, xq, xp, xd, xs, xo, xi);
                    }
                }
                return;
            }
            case Kind.F32:
                for (var r = r0; r < r1; r++)
                    for (var t = 0; t < j.N; t++)
                        j.Y[(long)t * rows + r] = FastConvert.Dot((float*)w.Row(r), j.X + (long)t * cols, cols);
                return;
            case Kind.F16:
            {
                if (j.Invariant)
                {
                    for (var r = r0; r < r1; r++)
                    {
                        // Pairs of sequences share each half→float conversion, each still getting DecodeDot.F16's result.
                        var s = 0;
                        for (; s + 2 <= j.N; s += 2)
                            DecodeDot.F16x2(w.Row(r), j.X + (long)s * cols, cols, cols, j.Y + (long)s * rows + r, rows);
                        for (; s < j.N; s++)
                            j.Y[(long)s * rows + r] = DecodeDot.F16(w.Row(r), j.X + (long)s * cols, cols);
                    }
                    return;
                }
                if (UsesPanels(w, j.N, false))
                {
                    PanelGemm.F16(w, r0, r1, j.N, j.X, j.Y);
                    return;
                }
                var t = 0;
                for (; t + 4 <= j.N; t += 4)
                    for (var r = r0; r < r1; r++)
                        QuantDot4.F16(w.Row(r), cols, j.X + (long)t * cols, j.Y + (long)t * rows + r, rows);
                for (; t < j.N; t++)
                    for (var r = r0; r < r1; r++)
                        j.Y[(long)t * rows + r] = DecodeDot.F16(w.Row(r), j.X + (long)t * cols, cols);
                return;
            }
            case Kind.BF16:
                for (var r = r0; r < r1; r++)
                    for (var t = 0; t < j.N; t++)
                        j.Y[(long)t * rows + r] = QuantDot.BF16(w.Row(r), j.X + (long)t * cols, cols);
                return;
            default:
            {
                var buf = _rowBuffer;
                if (buf == null || buf.Length < cols) _rowBuffer = buf = new float[Math.Max(cols, 4096)];
                fixed (float* pb = buf)
                {
                    for (var r = r0; r < r1; r++)
                    {
                        Dequantize.Row(w.Type, w.Row(r), buf.AsSpan(0, cols));
                        for (var t = 0; t < j.N; t++)
                            j.Y[(long)t * rows + r] = FastConvert.Dot(pb, j.X + (long)t * cols, cols);
                    }
                }
                return;
            }
        }
    }

    /// <summary>
    /// Prefill (several tokens, not batch-invariant) of a type <see cref="PanelGemm"/> decodes, with at least a full
    /// tile of tokens: decoding the panels costs about as much as 64 tokens' worth of sweeping, which a short prompt
    /// does not repay. Measured on 2816×1024 and 1024×2816 Q4_0/Q4_K/Q8_0, one thread, GMAC/s panels against the
    /// four-token and one-token kernels: 2 tokens 7–13 against 14–35, 4 tokens 16–28 against 24–46, 8 tokens 31–55
    /// against 25–47.
    /// </summary>
    private static bool UsesPanels(in WeightMatrix w, int n, bool invariant) =>
        !invariant && n >= Q8Activations.TileTokens && PrefillPanels && PanelGemm.Handles(w.Type, PanelGemm.Vnni, w.Cols);

    /// <summary>
    /// Whether <see cref="MatMat(in WeightMatrix, ReadOnlySpan{float}, int, Span{float})"/> of <paramref name="n"/> or
    /// more tokens computes each token's outputs by a routine that does not depend on the other tokens (panels, whose
    /// tile lanes are independent and whose short last tile is padded; per-token dots), so tokens of different
    /// sequences can share a call and each get what a call of its own gives (at least <paramref name="n"/> tokens
    /// too). False where tokens are taken four at a time (<see cref="QuantDot4"/>): their reduction order differs.
    /// </summary>
    internal static bool IsTokenwise(in WeightMatrix w, int n) => KindOf(w.Type, IntegerKernels) switch
    {
        Kind.Int8 => UsesPanels(w, n, false) || !HasQuad(w.Type),
        Kind.F16 => UsesPanels(w, n, false),
        _ => true,
    };

    private static bool HasQuad(GgmlType type) => type is GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_K or GgmlType.Q6_K;

    private static void DotInt8x4(GgmlType type, byte* row, int cols, sbyte* xq, float* xd, float* xs, float* y, long ystride)
    {
        switch (type)
        {
            case GgmlType.Q8_0: QuantDot4.Q8_0(row, cols, xq, xd, y, ystride); break;
            case GgmlType.Q4_0: QuantDot4.Q4_0(row, cols, xq, xd, xs, y, ystride); break;
            case GgmlType.Q4_K: QuantDot4.Q4_K(row, cols, xq, xd, xs, y, ystride); break;
            case GgmlType.Q6_K: QuantDot4.Q6_K(row, cols, xq, xd, xs, y, ystride); break;
            default: throw new NotSupportedException($"tensor type {type} has no four-token kernel");
        }
    }

    /// <summary>One row · one token; <paramref name="xp"/> and <paramref name="xo"/> are the token's
    /// <see cref="Q8Activations.Pairs"/> and <see cref="Q8Activations.Offsets"/> where the job has them (Q4_0 with
    /// <see cref="DecodeDot"/>), else null; <paramref name="xi"/> its <see cref="Q8Activations.IntSum16"/>.</summary>
    private static float DotInt8(GgmlType type, byte* row, int cols, sbyte* xq, sbyte* xp, float* xd, float* xs, int* xo, short* xi) => type switch
    {
        GgmlType.Q8_0 => QuantDot.Q8_0(row, cols / 32, xq, xd),
        GgmlType.Q4_0 => xp != null ? DecodeDot.Q4_0(row, cols / 32, xq, xp, xd, xo) : QuantDot.Q4_0(row, cols / 32, xq, xd, xs),
        GgmlType.Q4_K => DecodeDot.IsSupported ? DecodeDot.Q4_K(row, cols / 256, xq, xd, xs) : QuantDot.Q4_K(row, cols / 256, xq, xd, xs),
        GgmlType.Q5_K => DecodeDot.IsSupported ? DecodeDot.Q5_K(row, cols / 256, xq, xd, xs) : QuantDot.Q5_K(row, cols / 256, xq, xd, xs),
        GgmlType.Q6_K => DecodeDot.IsSupported ? DecodeDot.Q6_K(row, cols / 256, xq, xd, xi) : QuantDot.Q6_K(row, cols / 256, xq, xd, xs),
        _ => throw new NotSupportedException($"tensor type {type} has no integer kernel"),
    };
}
