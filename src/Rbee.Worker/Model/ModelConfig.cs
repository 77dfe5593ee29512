using Rbee.Worker.Gguf;

namespace Rbee.Worker.Model;

/// <summary>How RoPE pairs the dimensions of a head (llama.cpp's rope type, chosen per architecture).</summary>
public enum RopeStyle
{
    /// <summary>Adjacent pairs (x[2i], x[2i+1]): llama.cpp's LLAMA_ROPE_TYPE_NORM (llama, mistral).</summary>
    Normal,

    /// <summary>Halves (x[i], x[i + n/2]): GPT-NeoX style, LLAMA_ROPE_TYPE_NEOX (qwen2, qwen3).</summary>
    NeoX,
}

/// <summary>The hyper-parameters of a loaded model, read from GGUF metadata (<c>{arch}.*</c> keys) and tensor shapes.</summary>
public sealed record ModelConfig
{
    public required string Architecture { get; init; }
    public required int EmbeddingLength { get; init; }
    public required int Layers { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    /// <summary>Size of one attention head (<c>attention.key_length</c>, else n_embd / n_head).</summary>
    public required int HeadDim { get; init; }
    public required int FeedForwardLength { get; init; }
    /// <summary>Rows of the output matrix: the length of a logits vector.</summary>
    public required int VocabSize { get; init; }
    /// <summary>The context the model was trained for; a session may not be larger.</summary>
    public required int ContextLength { get; init; }
    public required float RmsEpsilon { get; init; }
    public required RopeStyle RopeStyle { get; init; }
    public required float RopeFreqBase { get; init; }
    /// <summary>How many dimensions of each head are rotated (<c>rope.dimension_count</c>, else the whole head).</summary>
    public required int RopeDimensions { get; init; }
    /// <summary>Position multiplier: 1 / <c>rope.scaling.factor</c> for linear scaling, else 1.</summary>
    public required float RopeFreqScale { get; init; }
    /// <summary>q/k/v carry bias vectors (qwen2).</summary>
    public required bool QkvBias { get; init; }
    /// <summary>Per-head RMSNorm of q and k before RoPE (qwen3).</summary>
    public required bool QkNorm { get; init; }
    /// <summary><c>output.weight</c> is absent and the token embedding is used as the classifier.</summary>
    public required bool TiedOutput { get; init; }

    public int QueryDim => Heads * HeadDim;
    public int KvDim => KvHeads * HeadDim;

    /// <summary>Architectures this engine runs, with the RoPE style llama.cpp uses for each.</summary>
    internal static readonly IReadOnlyDictionary<string, RopeStyle> Supported = new Dictionary<string, RopeStyle>(StringComparer.Ordinal)
    {
        ["llama"] = RopeStyle.Normal,
        ["mistral"] = RopeStyle.Normal,
        ["qwen2"] = RopeStyle.NeoX,
        ["qwen3"] = RopeStyle.NeoX,
    };

    /// <summary>Reads and checks the metadata. Unsupported architecture or rope scaling is refused naming it.</summary>
    internal static ModelConfig Read(GgufFile f)
    {
        var arch = f.GetString("general.architecture")
                   ?? throw new InvalidDataException($"{f.Path}: metadata key 'general.architecture' is missing");
        if (!Supported.TryGetValue(arch, out var rope))
            throw new NotSupportedException(
                $"{f.Path}: model architecture '{arch}' is not supported (supported: {string.Join(", ", Supported.Keys)})");

        int Req(string key)
        {
            var v = f.GetInt($"{arch}.{key}") ?? throw new InvalidDataException($"{f.Path}: metadata key '{arch}.{key}' is missing");
            if (v <= 0 || v > int.MaxValue) throw new InvalidDataException($"{f.Path}: metadata '{arch}.{key}' = {v} is out of range");
            return (int)v;
        }

        var embd = Req("embedding_length");
        var heads = Req("attention.head_count");
        var kvHeads = f.GetInt($"{arch}.attention.head_count_kv") is { } kv ? (int)kv : heads;
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw new InvalidDataException($"{f.Path}: {heads} attention heads cannot be shared by {kvHeads} key/value heads");
        var headDim = f.GetInt($"{arch}.attention.key_length") is { } kl ? (int)kl : embd / heads;
        if (headDim <= 0 || (f.GetInt($"{arch}.attention.key_length") is null && embd % heads != 0))
            throw new InvalidDataException($"{f.Path}: n_embd {embd} is not a whole number of {heads} heads");
        if (f.GetInt($"{arch}.attention.value_length") is { } vl && vl != headDim)
            throw new NotSupportedException($"{f.Path}: value head size {vl} differs from key head size {headDim}");
        var ropeDims = f.GetInt($"{arch}.rope.dimension_count") is { } rd ? (int)rd : headDim;
        if (ropeDims <= 0 || ropeDims > headDim || ropeDims % 2 != 0)
            throw new InvalidDataException($"{f.Path}: rope.dimension_count {ropeDims} does not fit a head of {headDim}");

        var freqScale = 1f;
        var scalingType = f.GetString($"{arch}.rope.scaling.type");
        if (scalingType is not null and not "none")
        {
            if (scalingType != "linear")
                throw new NotSupportedException($"{f.Path}: rope scaling type '{scalingType}' is not supported (linear is)");
            var factor = f.GetFloat($"{arch}.rope.scaling.factor") ?? 1.0;
            if (!(factor > 0)) throw new InvalidDataException($"{f.Path}: rope.scaling.factor {factor} is not positive");
            freqScale = (float)(1.0 / factor);
        }
        else if (scalingType is null && f.GetFloat($"{arch}.rope.scale_linear") is { } legacy && legacy > 0)
        {
            freqScale = (float)(1.0 / legacy); // older converters wrote this key instead
        }

        var embdTensor = f.Tensor("token_embd.weight");
        var tied = !f.TryGetTensor("output.weight", out var output);
        var vocab = checked((int)(tied ? embdTensor : output).Rows);

        return new ModelConfig
        {
            Architecture = arch,
            EmbeddingLength = embd,
            Layers = Req("block_count"),
            Heads = heads,
            KvHeads = kvHeads,
            HeadDim = headDim,
            FeedForwardLength = Req("feed_forward_length"),
            VocabSize = vocab,
            ContextLength = Req("context_length"),
            RmsEpsilon = (float)(f.GetFloat($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-5),
            RopeStyle = rope,
            RopeFreqBase = (float)(f.GetFloat($"{arch}.rope.freq_base") ?? 10000.0),
            RopeDimensions = ropeDims,
            RopeFreqScale = freqScale,
            QkvBias = f.TryGetTensor("blk.0.attn_q.bias", out _),
            QkNorm = f.TryGetTensor("blk.0.attn_q_norm.weight", out _),
            TiedOutput = tied,
        };
    }
}
