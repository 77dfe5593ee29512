using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Model;

/// <summary>
/// A prompt chunk's attention from <see cref="TiledFrom"/> new tokens on, as llama.cpp's CPU flash attention computes
/// it from 64 queries on (its tiled path, ggml_compute_forward_flash_attn_ext_tiled): in float32 throughout, a tile of
/// query rows against a tile of cache positions at a time, like two small matrix products. Per tile: every row's
/// scores (q·k, then times the scale), then each row's online softmax over the whole tile at once (the accumulator is
/// rescaled where the tile raised the row's maximum, not per position), then the weighted values added into float
/// accumulators. No fp16 rounding per position, one rescale per tile instead of per position, and each key or value
/// vector loaded from L1 feeds four rows: a third of the one-token kernel's work per position and head.
/// <para>
/// It is not the one-token kernels' arithmetic (llama.cpp's decode keeps fp16 accumulators, and so do they), so a
/// prompt's logits differ from one-token steps by rounding, as llama.cpp's do. What stays fixed is each row's own
/// sequence of operations: every score is one fused chain over the head's values in order, tiles start at absolute
/// positions (multiples of <see cref="Tile"/>), each value a fused chain over positions in order, the softmax sums in
/// one fixed 8-lane tree; and positions a row does not see add exact zeros. So a token's output does not depend on
/// which other rows share its tile, on how the prompt was cut into chunks of at least <see cref="TiledFrom"/>, or on
/// the vector width of the machine (8-lane vectors here, on every machine with AVX2 and FMA).
/// </para>
/// </summary>
internal static unsafe partial class Attention
{
    /// <summary>New tokens from which attention runs tiled (llama.cpp's query tile, GGML_FA_TILE_Q; below it, llama.cpp
    /// too runs its one-query kernel, which the fidelity references were made with).</summary>
    internal const int TiledFrom = 64;

    /// <summary>Cache positions per tile: four 8-lane vectors of scores per row.</summary>
    private const int Tile = 32;

    /// <summary>Query rows per tile: four rows × four vectors keep 16 accumulators in registers.</summary>
    private const int QueryRows = 4;

    [ThreadStatic] private static float[]? _tiled;

    /// <summary>Whether <paramref name="j"/> runs tiled (<see cref="TiledHeads"/>): a prompt chunk, a head size of
    /// whole 32-value chunks, and 8-lane fused multiply-adds.</summary>
    private static bool IsTiled(Job* j) => j->N >= TiledFrom && j->HeadDim % 32 == 0 && Avx2.IsSupported && Fma.IsSupported;

    /// <summary>
    /// One task of a tiled job: its query heads (sharing one KV head) for every new token. The task's values are
    /// widened to float once and its keys once into tiles transposed to [head value][position], so a score tile is 32
    /// positions wide in each vector. Rows are (token, head) pairs, token-major, four at a time.
    /// </summary>
    private static void TiledHeads(Job* j, int task)
    {
        var hd = j->HeadDim;
        var count = j->HeadsPerTask;
        var h0 = task * count;
        var kvOff = h0 / j->Group * j->HeadStride;
        var len = j->Start + j->N;
        var tiles = (len + Tile - 1) / Tile;
        long valueFloats = (long)len * hd, keyFloats = (long)tiles * Tile * hd;
        var need = valueFloats + keyFloats + Tile * hd + QueryRows * Tile + QueryRows * hd;
        var buf = _tiled;
        if (buf == null || buf.Length < need) _tiled = buf = GC.AllocateUninitializedArray<float>((int)Math.Max(need, 1 << 16), pinned: true);
        var values = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buf));
        var keys = values + valueFloats;
        var rowsScratch = keys + keyFloats;
        var scores = rowsScratch + Tile * hd;
        var acc = scores + QueryRows * Tile;

        Widen(j->Values + kvOff, values, (int)valueFloats, (int)valueFloats);
        for (var p0 = 0; p0 < len; p0 += Tile)
        {
            var b = Math.Min(Tile, len - p0);
            Widen(j->Keys + kvOff + (long)p0 * hd, rowsScratch, b * hd, b * hd);
            Transpose(rowsScratch, b, hd, keys + (long)p0 * hd);
        }

        var q = stackalloc float*[QueryRows];
        var lengths = stackalloc int[QueryRows];
        var m = stackalloc float[QueryRows];
        var s = stackalloc float[QueryRows];
        var rows = j->N * count;
        for (var r0 = 0; r0 < rows; r0 += QueryRows)
        {
            // A short last group repeats its last row; those results are not stored.
            for (var i = 0; i < QueryRows; i++)
            {
                var r = Math.Min(r0 + i, rows - 1);
                int t = r / count, g = r % count;
                q[i] = j->Q + (long)t * j->QDim + (h0 + g) * hd;
                lengths[i] = j->Start + t + 1;
                m[i] = float.NegativeInfinity;
                s[i] = 0;
            }
            new Span<float>(acc, QueryRows * hd).Clear();
            var longest = lengths[QueryRows - 1]; // token-major: the last row sees the most positions
            for (var p0 = 0; p0 < longest; p0 += Tile)
            {
                TileScores(q, keys + (long)p0 * hd, hd, j->Scale, scores);
                for (var i = 0; i < QueryRows; i++)
                {
                    var row = scores + i * Tile;
                    if (lengths[i] <= p0) new Span<float>(row, Tile).Clear();
                    else TileSoftmax(row, Math.Min(Tile, lengths[i] - p0), ref m[i], ref s[i], acc + i * hd, hd);
                }
                TileValues(acc, values + (long)p0 * hd, hd, Math.Min(Tile, longest - p0), scores);
            }
            for (var i = 0; i < QueryRows && r0 + i < rows; i++)
            {
                int t = (r0 + i) / count, g = (r0 + i) % count;
                var o = j->Out + (long)t * j->QDim + (h0 + g) * hd;
                var inv = s[i] == 0 ? 0 : 1 / s[i];
                for (var k = 0; k < hd; k++) o[k] = acc[i * hd + k] * inv;
            }
        }
    }

    /// <summary>
    /// <paramref name="count"/> rows of <paramref name="hd"/> values into [value][position] with <see cref="Tile"/>
    /// positions per value; positions past <paramref name="count"/> are zero (their scores are masked, never used).
    /// </summary>
    private static void Transpose(float* rows, int count, int hd, float* tile)
    {
        for (var i = 0; i < hd; i++)
        {
            var to = tile + i * Tile;
            var p = 0;
            for (; p < count; p++) to[p] = rows[p * hd + i];
            for (; p < Tile; p++) to[p] = 0;
        }
    }

    /// <summary>
    /// scores[i, p] = (q_i · k_p) · scale for the four rows and the tile's 32 positions: each dot one fused chain over
    /// the head's values in order, starting from zero (as llama.cpp's tile product, then its scale).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileScores(float** q, float* keys, int hd, float scale, float* scores)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector256<float> d0 = default, d1 = default, d2 = default, d3 = default;
        float* qa = q[0], qb = q[1], qc = q[2], qd = q[3];
        for (var i = 0; i < hd; i++, keys += Tile)
        {
            var k0 = Vector256.Load(keys);
            var k1 = Vector256.Load(keys + 8);
            var k2 = Vector256.Load(keys + 16);
            var k3 = Vector256.Load(keys + 24);
            var x = Vector256.Create(qa[i]);
            a0 = Fma.MultiplyAdd(k0, x, a0); a1 = Fma.MultiplyAdd(k1, x, a1); a2 = Fma.MultiplyAdd(k2, x, a2); a3 = Fma.MultiplyAdd(k3, x, a3);
            x = Vector256.Create(qb[i]);
            b0 = Fma.MultiplyAdd(k0, x, b0); b1 = Fma.MultiplyAdd(k1, x, b1); b2 = Fma.MultiplyAdd(k2, x, b2); b3 = Fma.MultiplyAdd(k3, x, b3);
            x = Vector256.Create(qc[i]);
            c0 = Fma.MultiplyAdd(k0, x, c0); c1 = Fma.MultiplyAdd(k1, x, c1); c2 = Fma.MultiplyAdd(k2, x, c2); c3 = Fma.MultiplyAdd(k3, x, c3);
            x = Vector256.Create(qd[i]);
            d0 = Fma.MultiplyAdd(k0, x, d0); d1 = Fma.MultiplyAdd(k1, x, d1); d2 = Fma.MultiplyAdd(k2, x, d2); d3 = Fma.MultiplyAdd(k3, x, d3);
        }
        var sc = Vector256.Create(scale);
        (a0 * sc).Store(scores); (a1 * sc).Store(scores + 8); (a2 * sc).Store(scores + 16); (a3 * sc).Store(scores + 24);
        scores += Tile;
        (b0 * sc).Store(scores); (b1 * sc).Store(scores + 8); (b2 * sc).Store(scores + 16); (b3 * sc).Store(scores + 24);
        scores += Tile;
        (c0 * sc).Store(scores); (c1 * sc).Store(scores + 8); (c2 * sc).Store(scores + 16); (c3 * sc).Store(scores + 24);
        scores += Tile;
        (d0 * sc).Store(scores); (d1 * sc).Store(scores + 8); (d2 * sc).Store(scores + 16); (d3 * sc).Store(scores + 24);
    }

    /// <summary>
    /// One row's online softmax over a tile of which the first <paramref name="valid"/> positions are its own (the
    /// rest masked to −∞): where the tile's largest score raises the running maximum m, the accumulator and the running
    /// sum are scaled by e^(m_old − m); then the row's scores become weights e^(score − m) (masked: 0), added to the sum
    /// in one fixed tree.
    /// </summary>
    private static void TileSoftmax(float* row, int valid, ref float m, ref float sum, float* acc, int hd)
    {
        if (valid < Tile)
        {
            var lane = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
            for (var p = valid & ~7; p < Tile; p += 8)
            {
                var keep = Vector256.LessThan(lane + Vector256.Create(p), Vector256.Create(valid)).AsSingle();
                Vector256.ConditionalSelect(keep, Vector256.Load(row + p), Vector256.Create(float.NegativeInfinity)).Store(row + p);
            }
        }
        Vector256<float> s0 = Vector256.Load(row), s1 = Vector256.Load(row + 8), s2 = Vector256.Load(row + 16), s3 = Vector256.Load(row + 24);
        var most = Vector256.Max(Vector256.Max(s0, s1), Vector256.Max(s2, s3));
        most = Vector256.Max(most, Avx.Permute2x128(most, most, 1));
        most = Vector256.Max(most, Avx.Permute(most, 0b01_00_11_10));
        most = Vector256.Max(most, Avx.Permute(most, 0b10_11_00_01));
        var top = MathF.Max(m, most.ToScalar());
        if (top > m)
        {
            if (m != float.NegativeInfinity)
            {
                // Before the first tile the accumulator and sum are zero, and stay so.
                var f = MathF.Exp(m - top);
                var fv = Vector256.Create(f);
                for (var i = 0; i < hd; i += 8) (Vector256.Load(acc + i) * fv).Store(acc + i);
                sum *= f;
            }
            m = top;
        }
        var mv = Vector256.Create(m);
        // Masked lanes: e^(−∞) is 0.
        var e0 = ExpNegative(s0 - mv);
        var e1 = ExpNegative(s1 - mv);
        var e2 = ExpNegative(s2 - mv);
        var e3 = ExpNegative(s3 - mv);
        e0.Store(row); e1.Store(row + 8); e2.Store(row + 16); e3.Store(row + 24);
        var total = (e0 + e1) + (e2 + e3);
        var h = total.GetLower() + total.GetUpper();
        sum += (h.GetElement(0) + h.GetElement(1)) + (h.GetElement(2) + h.GetElement(3));
    }

    /// <summary>
    /// e^x for x ≤ 0 (a score minus its row's maximum) in float arithmetic: n = round(x·log₂e), r = x − n·ln 2 (ln 2 in
    /// two parts), a degree-6 polynomial in r (Cephes' expf), times 2^n; 0 below −87.3, where e^x leaves float's normal
    /// range, and for −∞. Within a few units in the last place of expf at a third of the exact <see cref="ExpF.Exp8"/>'s
    /// cost: the tiled path is not llama.cpp's exact arithmetic (its exponentials there are ggml_v_expf's), and each
    /// lane is computed the same way on every machine with FMA.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> ExpNegative(Vector256<float> x)
    {
        var n = Avx.RoundToNearestInteger(x * Vector256.Create(1.44269504f));
        var r = Fma.MultiplyAddNegated(n, Vector256.Create(0.693359375f), x);
        r = Fma.MultiplyAddNegated(n, Vector256.Create(-2.12194440e-4f), r);
        var p = Fma.MultiplyAdd(Vector256.Create(1.9875691500e-4f), r, Vector256.Create(1.3981999507e-3f));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        p = Fma.MultiplyAdd(p, r * r, r + Vector256<float>.One);
        var twoN = (Avx.ConvertToVector256Int32(n) + Vector256.Create(127)) << 23;
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(-87.3f)), Vector256<float>.Zero, p * twoN.AsSingle());
    }

    /// <summary>
    /// acc_i += Σ_p w_i[p] · v_p for the four rows over the tile's first <paramref name="count"/> positions: each
    /// accumulator value one fused chain in position order, 32 values of each row held in registers across the tile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileValues(float* acc, float* values, int hd, int count, float* weights)
    {
        for (var c = 0; c < hd; c += 32)
        {
            float* ra = acc + c, rb = ra + hd, rc = rb + hd, rd = rc + hd;
            Vector256<float> a0 = Vector256.Load(ra), a1 = Vector256.Load(ra + 8), a2 = Vector256.Load(ra + 16), a3 = Vector256.Load(ra + 24);
            Vector256<float> b0 = Vector256.Load(rb), b1 = Vector256.Load(rb + 8), b2 = Vector256.Load(rb + 16), b3 = Vector256.Load(rb + 24);
            Vector256<float> c0 = Vector256.Load(rc), c1 = Vector256.Load(rc + 8), c2 = Vector256.Load(rc + 16), c3 = Vector256.Load(rc + 24);
            Vector256<float> d0 = Vector256.Load(rd), d1 = Vector256.Load(rd + 8), d2 = Vector256.Load(rd + 16), d3 = Vector256.Load(rd + 24);
            var v = values + c;
            for (var p = 0; p < count; p++, v += hd)
            {
                var v0 = Vector256.Load(v);
                var v1 = Vector256.Load(v + 8);
                var v2 = Vector256.Load(v + 16);
                var v3 = Vector256.Load(v + 24);
                var w = Vector256.Create(weights[p]);
                a0 = Fma.MultiplyAdd(v0, w, a0); a1 = Fma.MultiplyAdd(v1, w, a1); a2 = Fma.MultiplyAdd(v2, w, a2); a3 = Fma.MultiplyAdd(v3, w, a3);
                w = Vector256.Create(weights[Tile + p]);
                b0 = Fma.MultiplyAdd(v0, w, b0); b1 = Fma.MultiplyAdd(v1, w, b1); b2 = Fma.MultiplyAdd(v2, w, b2); b3 = Fma.MultiplyAdd(v3, w, b3);
                w = Vector256.Create(weights[2 * Tile + p]);
                c0 = Fma.MultiplyAdd(v0, w, c0); c1 = Fma.MultiplyAdd(v1, w, c1); c2 = Fma.MultiplyAdd(v2, w, c2); c3 = Fma.MultiplyAdd(v3, w, c3);
                w = Vector256.Create(weights[3 * Tile + p]);
                d0 = Fma.MultiplyAdd(v0, w, d0); d1 = Fma.MultiplyAdd(v1, w, d1); d2 = Fma.MultiplyAdd(v2, w, d2); d3 = Fma.MultiplyAdd(v3, w, d3);
            }
            a0.Store(ra); a1.Store(ra + 8); a2.Store(ra + 16); a3.Store(ra + 24);
            b0.Store(rb); b1.Store(rb + 8); b2.Store(rb + 16); b3.Store(rb + 24);
            c0.Store(rc); c1.Store(rc + 8); c2.Store(rc + 16); c3.Store(rc + 24);
            d0.Store(rd); d1.Store(rd + 8); d2.Store(rd + 16); d3.Store(rd + 24);
        }
    }
}
