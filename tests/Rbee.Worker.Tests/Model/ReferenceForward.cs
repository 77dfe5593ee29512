using Rbee.Worker.Gguf;

namespace Rbee.Worker.Tests.Model;

/// <summary>
/// A deliberately plain llama/qwen2 forward pass for F32 test models: double precision, whole sequence at once, no
/// cache, no kernels, written from the architecture's definition (HF modeling_llama / modeling_qwen2) rather than
/// from the engine. Generated models have no llama.cpp reference; this is it.
/// </summary>
internal static unsafe class ReferenceForward
{
    public sealed record Hyper(int Embd, int Layers, int Heads, int KvHeads, int Ff, double Eps, bool NeoX,
        int RopeDims, double RopeBase, double FreqScale, float[]? FreqFactors = null, int? HeadDim = null);

    /// <summary>Logits after each of <paramref name="tokens"/>, starting from an empty context.</summary>
    public static double[][] Run(GgufFile f, Hyper h, int[] tokens)
    {
        var n = tokens.Length;
        var hd = h.HeadDim ?? h.Embd / h.Heads;
        var emb = Tensor(f, "token_embd.weight");
        var x = new double[n][];
        for (var t = 0; t < n; t++) x[t] = Enumerable.Range(0, h.Embd).Select(i => (double)emb[tokens[t] * h.Embd + i]).ToArray();

        for (var l = 0; l < h.Layers; l++)
        {
            var p = $"blk.{l}.";
            var xn = x.Select(r => Norm(r, Tensor(f, p + "attn_norm.weight"), h.Eps)).ToArray();
            var q = xn.Select(r => Linear(f, p + "attn_q", r)).ToArray();
            var k = xn.Select(r => Linear(f, p + "attn_k", r)).ToArray();
            var v = xn.Select(r => Linear(f, p + "attn_v", r)).ToArray();
            if (f.TryGetTensor(p + "attn_q_norm.weight", out _))
            {
                // qwen3: RMSNorm of each head of q and k, before RoPE.
                var qn = Tensor(f, p + "attn_q_norm.weight");
                var kn = Tensor(f, p + "attn_k_norm.weight");
                for (var t = 0; t < n; t++)
                {
                    for (var head = 0; head < h.Heads; head++) Norm(q[t].AsSpan(head * hd, hd).ToArray(), qn, h.Eps).CopyTo(q[t], head * hd);
                    for (var head = 0; head < h.KvHeads; head++) Norm(k[t].AsSpan(head * hd, hd).ToArray(), kn, h.Eps).CopyTo(k[t], head * hd);
                }
            }
            for (var t = 0; t < n; t++)
            {
                for (var head = 0; head < h.Heads; head++) Rope(q[t], head * hd, t, h);
                for (var head = 0; head < h.KvHeads; head++) Rope(k[t], head * hd, t, h);
            }
            var att = new double[n][];
            for (var t = 0; t < n; t++)
            {
                att[t] = new double[h.Heads * hd];
                for (var head = 0; head < h.Heads; head++)
                {
                    var kvh = head / (h.Heads / h.KvHeads);
                    var s = new double[t + 1];
                    for (var j = 0; j <= t; j++)
                    {
                        double d = 0;
                        for (var i = 0; i < hd; i++) d += q[t][head * hd + i] * k[j][kvh * hd + i];
                        s[j] = d / Math.Sqrt(hd);
                    }
                    var max = s.Max();
                    var e = s.Select(z => Math.Exp(z - max)).ToArray();
                    var sum = e.Sum();
                    for (var j = 0; j <= t; j++)
                        for (var i = 0; i < hd; i++) att[t][head * hd + i] += e[j] / sum * v[j][kvh * hd + i];
                }
            }
            for (var t = 0; t < n; t++) Add(x[t], Linear(f, p + "attn_output", att[t]));
            xn = x.Select(r => Norm(r, Tensor(f, p + "ffn_norm.weight"), h.Eps)).ToArray();
            for (var t = 0; t < n; t++)
            {
                var g = Linear(f, p + "ffn_gate", xn[t]);
                var u = Linear(f, p + "ffn_up", xn[t]);
                var a = g.Select((z, i) => z / (1 + Math.Exp(-z)) * u[i]).ToArray();
                Add(x[t], Linear(f, p + "ffn_down", a));
            }
        }
        var outName = f.TryGetTensor("output.weight", out _) ? "output" : "token_embd";
        return x.Select(r => Linear(f, outName, Norm(r, Tensor(f, "output_norm.weight"), h.Eps))).ToArray();
    }

    private static void Rope(double[] v, int off, int pos, Hyper h)
    {
        var half = h.RopeDims / 2;
        for (var i = 0; i < half; i++)
        {
            var theta = pos * h.FreqScale * Math.Pow(h.RopeBase, -2.0 * i / h.RopeDims) / (h.FreqFactors?[i] ?? 1.0);
            var (a, b) = h.NeoX ? (off + i, off + i + half) : (off + 2 * i, off + 2 * i + 1);
            var (x0, x1) = (v[a], v[b]);
            v[a] = x0 * Math.Cos(theta) - x1 * Math.Sin(theta);
            v[b] = x0 * Math.Sin(theta) + x1 * Math.Cos(theta);
        }
    }

    private static double[] Norm(double[] x, float[] w, double eps)
    {
        var rms = Math.Sqrt(x.Sum(z => z * z) / x.Length + eps);
        return x.Select((z, i) => z / rms * w[i]).ToArray();
    }

    private static double[] Linear(GgufFile f, string name, double[] x)
    {
        var t = f.Tensor(name + ".weight");
        var w = Tensor(f, name + ".weight");
        var cols = (int)t.Columns;
        var y = new double[t.Rows];
        for (var r = 0; r < y.Length; r++)
        {
            double s = 0;
            for (var c = 0; c < cols; c++) s += w[r * cols + c] * x[c];
            y[r] = s;
        }
        if (f.TryGetTensor(name + ".bias", out _)) Add(y, Tensor(f, name + ".bias").Select(b => (double)b).ToArray());
        return y;
    }

    private static void Add(double[] y, double[] x)
    {
        for (var i = 0; i < y.Length; i++) y[i] += x[i];
    }

    private static float[] Tensor(GgufFile f, string name)
    {
        var t = f.Tensor(name);
        if (t.Type != GgmlType.F32) throw new InvalidOperationException($"reference reads F32 only, '{name}' is {t.Type}");
        return new ReadOnlySpan<float>(t.Pointer, checked((int)t.ElementCount)).ToArray();
    }
}
