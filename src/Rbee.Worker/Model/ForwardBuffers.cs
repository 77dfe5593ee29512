namespace Rbee.Worker.Model;

/// <summary>
/// The activations of one forward pass for up to <see cref="Tokens"/> tokens, row-major [token][…]: allocated once by
/// whoever runs passes (a session for its prompt steps, a <see cref="BatchDecoder"/> for its batches), so a pass
/// allocates nothing.
/// </summary>
internal sealed class ForwardBuffers
{
    public ForwardBuffers(ModelConfig c, int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        Tokens = tokens;
        X = new float[tokens * c.EmbeddingLength];
        Xn = new float[tokens * Math.Max(c.EmbeddingLength, c.QueryDim)];
        Q = new float[tokens * c.QueryDim];
        K = new float[tokens * c.KvDim];
        V = new float[tokens * c.KvDim];
        Att = new float[tokens * c.QueryDim];
        Proj = new float[tokens * c.EmbeddingLength];
        Gate = new float[tokens * c.FeedForwardLength];
        Up = new float[tokens * c.FeedForwardLength];
    }

    /// <summary>Most tokens a pass through these buffers holds.</summary>
    public int Tokens { get; }

    /// <summary>Hidden states (the residual stream), their norms, queries, keys, values, attention outputs, output
    /// projections and the feed-forward's gate and up halves.</summary>
    public float[] X { get; }
    public float[] Xn { get; }
    public float[] Q { get; }
    public float[] K { get; }
    public float[] V { get; }
    public float[] Att { get; }
    public float[] Proj { get; }
    public float[] Gate { get; }
    public float[] Up { get; }
}
