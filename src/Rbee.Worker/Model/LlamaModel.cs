using Rbee.Worker.Gguf;
using Rbee.Worker.Kernels;

namespace Rbee.Worker.Model;

/// <summary>
/// A llama-family decoder (llama, mistral, qwen2, qwen3) over a memory-mapped GGUF file. The weight matrices stay in
/// the mapping (<see cref="WeightMatrix"/> points into it); only the small norm and bias vectors are copied to
/// float arrays. Immutable once loaded, so any number of <see cref="InferenceSession"/>s may run on it at once,
/// each on its own thread.
/// </summary>
public sealed unsafe class LlamaModel : IDisposable
{
    // Dispose may race with sessions still evaluating on other threads: the mapping is released only once no
    // evaluation is in flight, so a late request fails with ObjectDisposedException instead of reading unmapped memory.
    private int _disposed;
    private int _busy;
    private int _released;

    public ModelConfig Config { get; }
    public GgufFile File { get; }
    public ModelLoadOptions Options { get; }

    internal LayerWeights[] Layers { get; }
    internal GgufTensor TokenEmbedding { get; }
    internal float[] OutputNorm { get; }
    internal WeightMatrix Output { get; }

    /// <summary>RoPE inverse frequencies θ_i = scale · base^(−2i/n_rot), one per rotated pair.</summary>
    internal float[] RopeInvFreq { get; }

    private LlamaModel(GgufFile file, ModelConfig config, ModelLoadOptions options)
    {
        File = file;
        Config = config;
        Options = options;
        var c = config;

        TokenEmbedding = file.Tensor("token_embd.weight");
        ExpectShape(TokenEmbedding, c.EmbeddingLength, c.VocabSize);
        CheckReadable(TokenEmbedding);
        OutputNorm = Vector("output_norm.weight", c.EmbeddingLength);
        Output = c.TiedOutput ? WeightMatrix.From(TokenEmbedding) : Matrix("output.weight", c.EmbeddingLength, c.VocabSize);

        var requireBias = c.Architecture == "qwen2";
        var requireQkNorm = c.Architecture == "qwen3";
        Layers = new LayerWeights[c.Layers];
        for (var l = 0; l < c.Layers; l++)
        {
            var p = $"blk.{l}.";
            var bias = requireBias || c.QkvBias;
            var qkNorm = requireQkNorm || c.QkNorm;
            Layers[l] = new LayerWeights
            {
                AttnNorm = Vector(p + "attn_norm.weight", c.EmbeddingLength),
                Wq = Matrix(p + "attn_q.weight", c.EmbeddingLength, c.QueryDim),
                Wk = Matrix(p + "attn_k.weight", c.EmbeddingLength, c.KvDim),
                Wv = Matrix(p + "attn_v.weight", c.EmbeddingLength, c.KvDim),
                Bq = bias ? Vector(p + "attn_q.bias", c.QueryDim) : null,
                Bk = bias ? Vector(p + "attn_k.bias", c.KvDim) : null,
                Bv = bias ? Vector(p + "attn_v.bias", c.KvDim) : null,
                QNorm = qkNorm ? Vector(p + "attn_q_norm.weight", c.HeadDim) : null,
                KNorm = qkNorm ? Vector(p + "attn_k_norm.weight", c.HeadDim) : null,
                Wo = Matrix(p + "attn_output.weight", c.QueryDim, c.EmbeddingLength),
                FfnNorm = Vector(p + "ffn_norm.weight", c.EmbeddingLength),
                Wgate = Matrix(p + "ffn_gate.weight", c.EmbeddingLength, c.FeedForwardLength),
                Wup = Matrix(p + "ffn_up.weight", c.EmbeddingLength, c.FeedForwardLength),
                Wdown = Matrix(p + "ffn_down.weight", c.FeedForwardLength, c.EmbeddingLength),
            };
        }

        // As ggml_rope: theta_scale = base^(-2/n_dims), theta_i = p · freq_scale · theta_scale^i.
        RopeInvFreq = new float[c.RopeDimensions / 2];
        var thetaScale = MathF.Pow(c.RopeFreqBase, -2f / c.RopeDimensions);
        var theta = c.RopeFreqScale;
        // Llama 3.1 and later carry per-pair divisors of the frequency (rope_freqs.weight; ggml's freq_factors).
        var factors = file.TryGetTensor("rope_freqs.weight", out _) ? Vector("rope_freqs.weight", c.RopeDimensions / 2) : null;
        for (var i = 0; i < RopeInvFreq.Length; i++)
        {
            RopeInvFreq[i] = factors is null ? theta : theta / factors[i];
            theta *= thetaScale;
        }
    }

    /// <summary>
    /// Opens and checks a model. Refused at load, naming what is wrong: an unsupported architecture or tensor type,
    /// a missing tensor, a tensor of the wrong shape, inconsistent hyper-parameters.
    /// </summary>
    public static LlamaModel Load(string path, ModelLoadOptions? options = null)
    {
        options ??= new ModelLoadOptions();
        options.Validate();
        // The kernels share one process-wide pool; a worker serves one model, so its option sets the pool.
        if (options.Threads is { } threads) ComputePool.Configure(threads);
        var file = GgufFile.Open(path);
        try
        {
            return new LlamaModel(file, ModelConfig.Read(file), options);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>A new sequence with its own KV cache of <paramref name="contextSize"/> positions (0 = the model's).</summary>
    public InferenceSession CreateSession(int contextSize = 0)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (contextSize == 0) contextSize = Config.ContextLength;
        if (contextSize < 1 || contextSize > Config.ContextLength)
            throw new ArgumentOutOfRangeException(nameof(contextSize), contextSize,
                $"context size must be between 1 and the model's context length {Config.ContextLength}");
        return new InferenceSession(this, contextSize);
    }

    /// <summary>A decoder that steps up to <paramref name="capacity"/> of this model's sessions in one forward pass.</summary>
    public BatchDecoder CreateBatchDecoder(int capacity)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return new BatchDecoder(this, capacity);
    }

    /// <summary>Marks an evaluation in flight; throws if the model is disposed. Pair with <see cref="Exit"/>.</summary>
    internal void Enter()
    {
        Interlocked.Increment(ref _busy);
        if (Volatile.Read(ref _disposed) != 0)
        {
            Exit();
            throw new ObjectDisposedException(nameof(LlamaModel), $"model {File.Path} is unloaded");
        }
    }

    internal void Exit()
    {
        if (Interlocked.Decrement(ref _busy) == 0 && Volatile.Read(ref _disposed) != 0) Release();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (Volatile.Read(ref _busy) == 0) Release();
    }

    private void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) File.Dispose();
    }

    private WeightMatrix Matrix(string name, int cols, int rows)
    {
        var t = File.Tensor(name);
        ExpectShape(t, cols, rows);
        CheckReadable(t);
        return WeightMatrix.From(t);
    }

    private float[] Vector(string name, int length)
    {
        var t = File.Tensor(name);
        if (t.ElementCount != length || t.Dims[0] != length)
            throw new InvalidDataException($"{File.Path}: tensor '{name}' has shape [{string.Join(", ", t.Dims)}], expected [{length}]");
        CheckReadable(t);
        var v = new float[length];
        EmbeddingLookup.Row(t, 0, v);
        return v;
    }

    private void ExpectShape(GgufTensor t, int cols, int rows)
    {
        if (t.Dims[0] != cols || t.Rows != rows || t.Dims.Skip(2).Any(d => d != 1))
            throw new InvalidDataException(
                $"{File.Path}: tensor '{t.Name}' has shape [{string.Join(", ", t.Dims)}], expected [{cols}, {rows}]");
    }

    private void CheckReadable(GgufTensor t)
    {
        if (t.Pointer == null || !EmbeddingLookup.Supports(t.Type))
            throw new NotSupportedException($"{File.Path}: tensor '{t.Name}' has type {t.Type}, which this engine does not support");
    }
}

/// <summary>One transformer block's weights. Matrices point into the mapping; vectors are small copies.</summary>
internal sealed class LayerWeights
{
    public required float[] AttnNorm { get; init; }
    public required WeightMatrix Wq { get; init; }
    public required WeightMatrix Wk { get; init; }
    public required WeightMatrix Wv { get; init; }
    public float[]? Bq { get; init; }
    public float[]? Bk { get; init; }
    public float[]? Bv { get; init; }
    public float[]? QNorm { get; init; }
    public float[]? KNorm { get; init; }
    public required WeightMatrix Wo { get; init; }
    public required float[] FfnNorm { get; init; }
    public required WeightMatrix Wgate { get; init; }
    public required WeightMatrix Wup { get; init; }
    public required WeightMatrix Wdown { get; init; }
}
