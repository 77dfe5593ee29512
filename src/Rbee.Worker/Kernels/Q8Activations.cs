using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rbee.Worker.Kernels;

/// <summary>
/// Activations quantized to 8 bits, the way llama.cpp feeds its integer dot products, rounding for rounding, so a
/// quantized model here lands on the same logits as there (the rand-small references are llama.cpp's):
/// <list type="bullet">
/// <item><see cref="ActivationFormat.Q8_0"/> (for Q8_0/Q4_0 weights): every 32 values share <c>d = max|x|/127</c>,
/// <c>q = round(x/d)</c>, and d is then stored as fp16.</item>
/// <item><see cref="ActivationFormat.Q8_K"/> (for the K-quants): one fp32 scale per 256 values, chosen so the value of
/// largest magnitude maps to −127.</item>
/// </list>
/// Either way the kernels see one scale per 32 values (<see cref="D"/>; a Q8_K scale is repeated eight times) and
/// <c>d·Σq</c> per 16 values (<see cref="Sum16"/>), which pays for the constant part of a weight block (Q4_0's −8,
/// the K-quants' mins, Q6_K's −32) with one multiply per block instead of a second integer dot. One buffer per
/// calling thread, grown once and reused: a token allocates nothing.
/// </summary>
internal enum ActivationFormat { Q8_0, Q8_K }

internal sealed unsafe class Q8Activations
{
    public const int Block = 32;

    public sbyte* Q { get; private set; }
    public float* D { get; private set; }
    public float* Sum16 { get; private set; }

    /// <summary>
    /// Per 16 values, Σq as an integer (Q8_K format only, after <see cref="Fill"/>): the term of Q6_K's −32 offset, which
    /// <see cref="DecodeDot.Q6_K"/> takes out of its integer sum exactly instead of adding a float correction.
    /// </summary>
    public short* IntSum16 { get; private set; }

    /// <summary>
    /// <see cref="Q"/> with each group of eight 32-blocks g..g+7 laid out as four pairs (g+i, g+i+4), each pair as
    /// [values 0..15 of g+i, 0..15 of g+i+4, 16..31 of g+i, 16..31 of g+i+4] (after <see cref="FillPairs"/>): the order
    /// <see cref="DecodeDot.Q4_0"/> unpacks two weight blocks' nibbles in, so one 256-bit dot covers half of each block,
    /// and three horizontal adds leave the eight blocks' sums in block order. Blocks past the last whole group are not
    /// laid out (the kernels read them from <see cref="Q"/>).
    /// </summary>
    public sbyte* Pairs { get; private set; }

    /// <summary>
    /// <see cref="Q"/> with each group of eight 32-blocks g..g+7 transposed in groups of four values (after
    /// <see cref="FillPairs"/>): vector j of the group holds, in lane k, values 4j..4j+3 of block g+k. The layout
    /// <see cref="DecodeDot.Q4_0x4"/> reads: its weight vectors hold one block per lane too, so eight chained dots leave
    /// each block's sum in its own lane, with no horizontal adds. With <see cref="WideLanes"/>, each pair of groups
    /// (blocks 16i..16i+15) is interleaved vector by vector, vector j of the first group then vector j of the second, so
    /// <see cref="DecodeDot.Q4_0x4Wide"/> loads both halves of a 512-bit vector at once; a last odd group stays as it is.
    /// Blocks past the last whole group are not laid out.
    /// </summary>
    public sbyte* Lanes { get; private set; }

    /// <summary>Whether <see cref="Lanes"/> pairs its groups for 512-bit vectors (see there).</summary>
    public bool WideLanes { get; private set; }

    /// <summary>
    /// Per 32-block, 8·Σq over its 32 values, an exact integer (after <see cref="FillPairs"/>): a Q4_0 weight is its
    /// nibble minus 8, so <see cref="DecodeDot.Q4_0"/> takes a block's Σ nibble·q minus this and has Σ (nibble−8)·q
    /// exactly, as llama.cpp does, before the one conversion and scale multiply per block.
    /// </summary>
    public int* Offsets { get; private set; }

    /// <summary>
    /// The activations in <see cref="PanelGemm"/>'s tile order (after <see cref="FillTiles"/>): tokens in tiles of
    /// <see cref="TileTokens"/>, and per tile and 32-value block, for each group of four values k, the tile's tokens'
    /// four bytes side by side, as unsigned q+128 (the unsigned side of its dots; the weights are the signed side).
    /// A last short tile is padded with zeros.
    /// </summary>
    public byte* Tiles { get; private set; }

    /// <summary>Per tile and block, the tile's tokens' scales <see cref="D"/> side by side (after <see cref="FillTiles"/>).</summary>
    public float* TileD { get; private set; }

    /// <summary>Per tile and block, the tile's tokens' <c>d·Σq</c> over the block side by side (after <see cref="FillTiles"/>).</summary>
    public float* TileSum32 { get; private set; }

    /// <summary>Tokens per tile of <see cref="Tiles"/>.</summary>
    public const int TileTokens = 8;

    public int Cols { get; private set; }
    public int Tokens { get; private set; }
    private long _capacity;
    private long _tileCapacity;

    [ThreadStatic] private static Q8Activations? _forThread;

    /// <summary>This thread's buffers filled with <paramref name="n"/> tokens of <paramref name="x"/>, then
    /// <paramref name="pad"/> tokens of zeros (values, scales and sums all 0); see <see cref="Fill"/>.</summary>
    public static Q8Activations Quantize(float* x, int cols, int n, ActivationFormat format, int pad = 0, ComputePool? pool = null,
        bool pairs = false, bool eachToken = false)
    {
        var a = _forThread ??= new Q8Activations();
        a.Fill(x, cols, n, format, pad, pool, pairs, eachToken);
        return a;
    }

    /// <summary>
    /// Quantizes <paramref name="n"/> tokens of <paramref name="x"/> and pads <paramref name="pad"/> tokens of zeros;
    /// with <paramref name="pairs"/>, also lays every token out as <see cref="FillPairs()"/> does. With
    /// <paramref name="eachToken"/> (a batched decode step), each token from two on is its own task on the pool, so the
    /// threads share what the caller did alone while they waited for the matrix product; each token's bytes are the
    /// same whichever thread writes them.
    /// </summary>
    public void Fill(float* x, int cols, int n, ActivationFormat format, int pad = 0, ComputePool? pool = null,
        bool pairs = false, bool eachToken = false)
    {
        var unit = format == ActivationFormat.Q8_K ? 256 : Block;
        if (cols % unit != 0) throw new ArgumentException($"{cols} columns are not a whole number of {unit}-blocks");
        ArgumentOutOfRangeException.ThrowIfNegative(pad);
        var total = (long)cols * (n + pad);
        if (total > _capacity)
        {
            Free();
            _capacity = Math.Max(total, 4096);
            Q = (sbyte*)NativeMemory.AlignedAlloc((nuint)_capacity, 64);
            D = (float*)NativeMemory.AlignedAlloc((nuint)(_capacity / Block * sizeof(float)), 64);
            Sum16 = (float*)NativeMemory.AlignedAlloc((nuint)(_capacity / 16 * sizeof(float)), 64);
            IntSum16 = (short*)NativeMemory.AlignedAlloc((nuint)(_capacity / 16 * sizeof(short)), 64);
            Pairs = (sbyte*)NativeMemory.AlignedAlloc((nuint)_capacity, 64);
            Lanes = (sbyte*)NativeMemory.AlignedAlloc((nuint)_capacity, 64);
            Offsets = (int*)NativeMemory.AlignedAlloc((nuint)(_capacity / Block * sizeof(int)), 64);
        }
        Cols = cols;
        Tokens = n + pad;
        var quantized = (long)cols * n;
        new Span<sbyte>(Q + quantized, checked((int)(total - quantized))).Clear();
        new Span<float>(D + quantized / Block, checked((int)((total - quantized) / Block))).Clear();
        new Span<float>(Sum16 + quantized / 16, checked((int)((total - quantized) / 16))).Clear();
        new Span<short>(IntSum16 + quantized / 16, checked((int)((total - quantized) / 16))).Clear();
        var wide = DecodeDot.IsWideSupported;
        if (pairs) WideLanes = wide;
        var job = new FillJob
        {
            X = x, Q = Q, D = D, Sum16 = Sum16, IntSum16 = IntSum16, Cols = cols, Tokens = n,
            SuperBlocks = format == ActivationFormat.Q8_K, Pairs = pairs ? Pairs : null, Lanes = Lanes, Offsets = Offsets, WideLanes = wide,
        };
        Split(pool, &FillRange, &job, n, eachUnit: eachToken);
        if (pairs)
            for (var t = n; t < n + pad; t++) PairToken(Q, Pairs, Lanes, Offsets, cols, t, wide);
    }

    /// <summary>
    /// From this many tokens on (a prompt step), quantizing and tiling are split over the <see cref="ComputePool"/> by
    /// tokens: they ran on the calling thread alone while the other threads waited for the matrix product. Each token's
    /// bytes are the same whichever thread writes them.
    /// </summary>
    private const int SplitFrom = 32;

    /// <summary>Runs <paramref name="body"/> for every part of <paramref name="count"/> units (tokens or tiles): one
    /// part per thread of <paramref name="pool"/> (default the shared one) from <see cref="SplitFrom"/> tokens' worth
    /// on, else one part on this thread; with <paramref name="eachUnit"/> (a batched decode step), every unit its own
    /// part from two on, so the threads take them as they come free.</summary>
    private static void Split(ComputePool? pool, delegate*<void*, int, void> body, void* job, int count, int tokensPerUnit = 1,
        bool eachUnit = false)
    {
        pool ??= ComputePool.Shared;
        var parts = eachUnit && count >= 2 ? count : count * tokensPerUnit >= SplitFrom ? Math.Min(pool.Threads, count) : 1;
        ((Part*)job)->Count = count;
        ((Part*)job)->Parts = parts;
        if (parts == 1) body(job, 0);
        else pool.Run(body, job, parts);
    }

    /// <summary>The head of every split job: units [Count·i/Parts, Count·(i+1)/Parts) are part i.</summary>
    private struct Part
    {
        public int Count, Parts;

        public readonly (int From, int To) Range(int i) => ((int)((long)Count * i / Parts), (int)((long)Count * (i + 1) / Parts));
    }

    private struct FillJob
    {
        public Part Part; // first: Split writes it through the job's address
        public float* X, D, Sum16;
        public short* IntSum16;
        public sbyte* Q;
        public int Cols, Tokens;
        public bool SuperBlocks, WideLanes;

        /// <summary>Set when each token is also to be laid out (<see cref="PairToken"/>) by whichever thread quantized it.</summary>
        public sbyte* Pairs, Lanes;
        public int* Offsets;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FillRange(void* context, int part)
    {
        var j = (FillJob*)context;
        var (t0, t1) = j->Part.Range(part);
        long from = (long)t0 * j->Cols, to = (long)t1 * j->Cols;
        if (j->SuperBlocks)
        {
            for (var v = from; v < to; v += 256) QuantizeSuperBlock(j->X + v, j->Q + v, j->D + v / Block, j->Sum16 + v / 16, j->IntSum16 + v / 16);
            return;
        }
        for (var v = from; v < to; v += Block) QuantizeBlock(j->X + v, j->Q + v, j->D + v / Block, j->Sum16 + v / 16);
        if (j->Pairs != null)
            for (var t = t0; t < t1; t++) PairToken(j->Q, j->Pairs, j->Lanes, j->Offsets, j->Cols, t, j->WideLanes);
    }

    /// <summary>Fills <see cref="Pairs"/>, <see cref="Lanes"/> and <see cref="Offsets"/> for every token from
    /// <see cref="Q"/>, <see cref="Lanes"/> wide where <see cref="DecodeDot.IsWideSupported"/>.</summary>
    public void FillPairs() => FillPairs(DecodeDot.IsWideSupported);

    /// <summary><see cref="FillPairs()"/> with <see cref="Lanes"/> in the layout asked for.</summary>
    public void FillPairs(bool wideLanes)
    {
        WideLanes = wideLanes;
        for (var t = 0; t < Tokens; t++) PairToken(Q, Pairs, Lanes, Offsets, Cols, t, wideLanes);
    }

    /// <summary>Token <paramref name="t"/>'s <see cref="Pairs"/>, <see cref="Lanes"/> and <see cref="Offsets"/> from its
    /// <see cref="Q"/> (buffers of <paramref name="cols"/> values per token).</summary>
    private static void PairToken(sbyte* q, sbyte* pairs, sbyte* lanesAt, int* offsetsAt, int cols, int t, bool wideLanes)
    {
        const int group = 8 * Block;
        var nb = cols / Block;
        var pair = stackalloc byte[2 * group];
        var src = q + (long)t * cols;
        var dst = pairs + (long)t * cols;
        for (var g = 0; g + group <= cols; g += group)
            for (var i = 0; i < 4; i++)
            {
                sbyte* a = src + g + Block * i, e = a + 4 * Block, d = dst + g + 2 * Block * i;
                Vector128.Store(Vector128.Load(a), d);
                Vector128.Store(Vector128.Load(e), d + 16);
                Vector128.Store(Vector128.Load(a + 16), d + 32);
                Vector128.Store(Vector128.Load(e + 16), d + 48);
            }
        var lanes = (byte*)lanesAt + (long)t * cols;
        var offsets = offsetsAt + (long)t * nb;
        var b = 0;
        for (var g = 0; g + group <= cols; g += group, b += 8)
        {
            PanelGemm.Transpose8((byte*)src + g, Block, lanes + g, Vector256<byte>.Zero);
            if (AvxVnni.IsSupported)
            {
                // Lane k of each transposed vector holds four values of block k: eight dots against ones leave
                // the eight blocks' sums in block order.
                var sums = Vector256<int>.Zero;
                for (var j = 0; j < 8; j++) sums = AvxVnni.MultiplyWideningAndAdd(sums, Vector256<byte>.One, Vector256.Load((sbyte*)lanes + g + 32 * j));
                Vector256.Store(sums << 3, offsets + b);
            }
            else
                for (var k = 0; k < 8; k++) offsets[b + k] = 8 * BlockSum(src + (long)(b + k) * Block);
            if (wideLanes && g % (2 * group) == group)
            {
                // The second group of a pair: interleave it with the first, vector by vector.
                for (var j = 0; j < 8; j++)
                {
                    Vector256.Store(Vector256.Load(lanes + g - group + 32 * j), pair + 64 * j);
                    Vector256.Store(Vector256.Load(lanes + g + 32 * j), pair + 64 * j + 32);
                }
                Buffer.MemoryCopy(pair, lanes + g - group, 2 * group, 2 * group);
            }
        }
        for (; b < nb; b++) offsets[b] = 8 * BlockSum(src + (long)b * Block);
    }

    /// <summary>The sum of a block's 32 values: bytes widened in pairs against ones, then the eight lanes added.</summary>
    private static int BlockSum(sbyte* q)
    {
        var v = Vector256.Load(q);
        var pairs = Avx2.IsSupported
            ? Avx2.MultiplyAddAdjacent(Vector256<byte>.One, v)
            : Vector256.WidenLower(v) + Vector256.WidenUpper(v);
        return Vector256.Sum(Vector256.WidenLower(pairs) + Vector256.WidenUpper(pairs));
    }

    /// <summary>Fills <see cref="Tiles"/>, <see cref="TileD"/> and <see cref="TileSum32"/> from every token's values.</summary>
    public void FillTiles(ComputePool? pool = null)
    {
        var nb = Cols / Block;
        var tiles = (Tokens + TileTokens - 1) / TileTokens;
        var tiled = (long)Cols * tiles * TileTokens;
        if (tiled > _tileCapacity)
        {
            FreeTiles();
            _tileCapacity = Math.Max(tiled, 4096);
            Tiles = (byte*)NativeMemory.AlignedAlloc((nuint)_tileCapacity, 64);
            TileD = (float*)NativeMemory.AlignedAlloc((nuint)(_tileCapacity / Block * sizeof(float)), 64);
            TileSum32 = (float*)NativeMemory.AlignedAlloc((nuint)(_tileCapacity / Block * sizeof(float)), 64);
        }
        var job = new TileJob
        {
            Q = Q, D = D, Sum16 = Sum16, Tiles = Tiles, TileD = TileD, TileSum32 = TileSum32, Cols = Cols, Tokens = Tokens,
        };
        Split(pool, &TileRange, &job, tiles, TileTokens);
    }

    private struct TileJob
    {
        public Part Part; // first: Split writes it through the job's address
        public sbyte* Q;
        public float* D, Sum16, TileD, TileSum32;
        public byte* Tiles;
        public int Cols, Tokens;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileRange(void* context, int part)
    {
        var job = (TileJob*)context;
        var (first, end) = job->Part.Range(part);
        int cols = job->Cols, tokens = job->Tokens;
        var nb = cols / Block;
        float* d = job->D, sum16 = job->Sum16;
        var flip = Vector256.Create((byte)0x80);
        var padded = stackalloc byte[Block * TileTokens];
        for (var tile = first; tile < end; tile++)
        {
            var dst = job->Tiles + (long)tile * nb * Block * TileTokens;
            var dd = job->TileD + (long)tile * nb * TileTokens;
            var ds = job->TileSum32 + (long)tile * nb * TileTokens;
            var t0 = tile * TileTokens;
            var real = Math.Min(TileTokens, tokens - t0);
            var q = (byte*)job->Q + (long)t0 * cols;
            for (var b = 0; b < nb; b++)
            {
                if (real == TileTokens)
                    PanelGemm.Transpose8(q + Block * b, cols, dst + (long)b * Block * TileTokens, flip);
                else
                {
                    // A last short tile: its real tokens flipped, the rest zero, then transposed as they are.
                    new Span<byte>(padded, Block * TileTokens).Clear();
                    for (var j = 0; j < real; j++)
                        (Vector256.Load(q + (long)j * cols + Block * b) ^ flip).Store(padded + Block * j);
                    PanelGemm.Transpose8(padded, Block, dst + (long)b * Block * TileTokens, Vector256<byte>.Zero);
                }
                for (var j = 0; j < TileTokens; j++)
                {
                    var t = t0 + j;
                    dd[b * TileTokens + j] = t < tokens ? d[(long)t * nb + b] : 0;
                    ds[b * TileTokens + j] = t < tokens ? sum16[((long)t * nb + b) * 2] + sum16[((long)t * nb + b) * 2 + 1] : 0;
                }
            }
        }
    }

    public sbyte* TokenQ(int t) => Q + (long)t * Cols;
    public float* TokenD(int t) => D + (long)t * (Cols / Block);
    public float* TokenSum16(int t) => Sum16 + (long)t * (Cols / 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void QuantizeBlock(float* x, sbyte* q, float* d, float* s16)
    {
        if (Vector256.IsHardwareAccelerated)
        {
            var v0 = Vector256.Load(x);
            var v1 = Vector256.Load(x + 8);
            var v2 = Vector256.Load(x + 16);
            var v3 = Vector256.Load(x + 24);
            var m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
            var amax = Vector128.Max(m.GetLower(), m.GetUpper());
            amax = Vector128.Max(amax, Vector128.Shuffle(amax, Vector128.Create(2, 3, 0, 1)));
            amax = Vector128.Max(amax, Vector128.Shuffle(amax, Vector128.Create(1, 0, 3, 2)));
            var max = amax.ToScalar();
            var exact = max / 127f;
            // The multiplier is 127/max, not 1/(max/127): the two differ in the last bit for some max, and that flips
            // values lying near .5 (quantize_row_q8_0 uses 127/max; the rand-small Q8_0 gap fell from 0.018 to 0.005).
            var inv = Vector256.Create(max == 0 ? 0f : 127f / max);
            var scale = RoundTripHalf(exact);
            var i0 = Vector256.ConvertToInt32(Vector256.Round(v0 * inv));
            var i1 = Vector256.ConvertToInt32(Vector256.Round(v1 * inv));
            var i2 = Vector256.ConvertToInt32(Vector256.Round(v2 * inv));
            var i3 = Vector256.ConvertToInt32(Vector256.Round(v3 * inv));
            var packed = Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3));
            packed.Store(q);
            *d = scale;
            s16[0] = scale * Vector256.Sum(i0 + i1);
            s16[1] = scale * Vector256.Sum(i2 + i3);
            return;
        }
        ScalarBlock(x, q, d, s16);
    }

    /// <summary>
    /// (float)(Half)x for x ≥ 0 (a block's scale), bit for bit, in a few float operations instead of the library's
    /// software conversion: adding and removing 1.5·2^(e+13), e the exponent of x (at least −14, fp16's subnormal step),
    /// rounds x to fp16's precision, ties to even, in the float adder (as <c>Attention.RoundToHalf</c>); from 65520 on
    /// (which rounds past fp16's largest finite value) it is +∞, as the conversion gives.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float RoundTripHalf(float x)
    {
        if (x >= 65520f) return float.PositiveInfinity;
        var e = Math.Max(BitConverter.SingleToInt32Bits(x) & 0x7F800000, 0x38800000);
        var magic = BitConverter.Int32BitsToSingle(e + ((13 << 23) | 0x400000));
        return (x + magic) - magic;
    }

    /// <summary>The scalar reference of one Q8_0 block (ggml's x86 path rounds half to even, as MathF.Round does).</summary>
    internal static void ScalarBlock(float* x, sbyte* q, float* d, float* s16)
    {
        float max = 0;
        for (var i = 0; i < Block; i++) max = MathF.Max(max, MathF.Abs(x[i]));
        var exact = max / 127f;
        var inv = max == 0 ? 0f : 127f / max;
        var scale = (float)(Half)exact;
        int s0 = 0, s1 = 0;
        for (var i = 0; i < Block; i++)
        {
            var v = (int)MathF.Round(x[i] * inv);
            q[i] = (sbyte)v;
            if (i < 16) s0 += v; else s1 += v;
        }
        *d = scale;
        s16[0] = scale * s0;
        s16[1] = scale * s1;
    }

    /// <summary>
    /// One Q8_K super-block (ggml's quantize_row_q8_K_ref): the first value of largest magnitude, with its sign,
    /// maps to −127; q = min(127, round-half-even(x·(−127/max))); d = 1/iscale for all 256.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void QuantizeSuperBlock(float* x, sbyte* q, float* d, float* s16, short* i16)
    {
        float amax = 0;
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var m = Vector256<float>.Zero;
            for (; i < 256; i += 8) m = Vector256.Max(m, Vector256.Abs(Vector256.Load(x + i)));
            var h = Vector128.Max(m.GetLower(), m.GetUpper());
            h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(2, 3, 0, 1)));
            h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(1, 0, 3, 2)));
            amax = h.ToScalar();
        }
        else
        {
            for (; i < 256; i++) amax = MathF.Max(amax, MathF.Abs(x[i]));
        }
        if (amax == 0)
        {
            new Span<sbyte>(q, 256).Clear();
            for (var j = 0; j < 8; j++) d[j] = 0;
            for (var j = 0; j < 16; j++) s16[j] = 0;
            new Span<short>(i16, 16).Clear();
            return;
        }
        float max = 0;
        for (var j = 0; j < 256; j++)
            if (MathF.Abs(x[j]) == amax)
            {
                max = x[j];
                break;
            }
        var iscale = -127f / max;
        var scale = 1 / iscale;
        for (var j = 0; j < 8; j++) d[j] = scale;
        if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(iscale);
            var top = Vector256.Create(127);
            for (var g = 0; g < 8; g++)
            {
                var p = x + 32 * g;
                var i0 = Vector256.Min(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(p) * vs)), top);
                var i1 = Vector256.Min(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(p + 8) * vs)), top);
                var i2 = Vector256.Min(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(p + 16) * vs)), top);
                var i3 = Vector256.Min(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(p + 24) * vs)), top);
                Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3)).Store(q + 32 * g);
                int lo = Vector256.Sum(i0 + i1), hi = Vector256.Sum(i2 + i3);
                s16[2 * g] = scale * lo;
                s16[2 * g + 1] = scale * hi;
                i16[2 * g] = (short)lo;
                i16[2 * g + 1] = (short)hi;
            }
            return;
        }
        for (var g = 0; g < 16; g++)
        {
            var sum = 0;
            for (var l = 0; l < 16; l++)
            {
                var v = Math.Min(127, (int)MathF.Round(x[16 * g + l] * iscale));
                q[16 * g + l] = (sbyte)v;
                sum += v;
            }
            s16[g] = scale * sum;
            i16[g] = (short)sum;
        }
    }

    /// <summary>The values the quantized activations stand for (q·d), for reference checks.</summary>
    public float[] Dequantized(int t)
    {
        var y = new float[Cols];
        var q = TokenQ(t);
        var d = TokenD(t);
        for (var i = 0; i < Cols; i++) y[i] = q[i] * d[i / Block];
        return y;
    }

    private void Free()
    {
        if (Q != null) NativeMemory.AlignedFree(Q);
        if (D != null) NativeMemory.AlignedFree(D);
        if (Sum16 != null) NativeMemory.AlignedFree(Sum16);
        if (IntSum16 != null) NativeMemory.AlignedFree(IntSum16);
        if (Pairs != null) NativeMemory.AlignedFree(Pairs);
        if (Lanes != null) NativeMemory.AlignedFree(Lanes);
        if (Offsets != null) NativeMemory.AlignedFree(Offsets);
        Pairs = null;
        Lanes = null;
        Offsets = null;
        Q = null;
        D = null;
        Sum16 = null;
        IntSum16 = null;
    }

    private void FreeTiles()
    {
        if (Tiles != null) NativeMemory.AlignedFree(Tiles);
        if (TileD != null) NativeMemory.AlignedFree(TileD);
        if (TileSum32 != null) NativeMemory.AlignedFree(TileSum32);
        Tiles = null;
        TileD = null;
        TileSum32 = null;
    }

    ~Q8Activations()
    {
        Free();
        FreeTiles();
    }
}
