using Rbee.Models.Gguf;
using Rbee.Testing;
using Rbee.Testing.Gguf;

namespace Rbee.Models.Tests;

/// <summary><see cref="ModelFiles.Describe"/>: a model's <see cref="Contracts.Wire.ModelInfo"/> from its header alone.</summary>
public sealed class ModelFilesTests : IDisposable
{
    private readonly TempFiles _files = new();

    public void Dispose() => _files.Dispose();

    /// <summary>Elements of every tensor <see cref="RandomLlama"/> writes for <paramref name="s"/> (llama, no biases).</summary>
    private static long Parameters(RandomLlamaSpec s)
    {
        var headDim = s.HeadDim ?? s.Embedding / s.Heads;
        long q = headDim * s.Heads, kv = headDim * s.KvHeads;
        long perLayer = s.Embedding // attn_norm
            + s.Embedding * q + 2 * s.Embedding * kv + q * s.Embedding // q, k, v, output
            + s.Embedding // ffn_norm
            + 3L * s.Embedding * s.FeedForward; // gate, up, down
        return s.Embedding * (long)s.Vocab * 2 + s.Layers * perLayer + s.Embedding; // token_embd, output, output_norm
    }

    [Fact]
    public void AGeneratedLlama_IsDescribedFromItsMetadataAndTensors()
    {
        var spec = new RandomLlamaSpec { Embedding = 64, FeedForward = 96, Layers = 3, Heads = 4, KvHeads = 2, Context = 512, Vocab = 40, WeightType = GgmlTypeCode.Q8_0 };
        var path = _files.Write("my-llama.gguf", RandomLlama.Build(spec));

        var m = ModelFiles.Describe(path);

        Assert.Equal("my-llama", m.Id);
        Assert.Equal(path, m.Path);
        Assert.Equal("gguf", m.Format);
        Assert.Equal(new FileInfo(path).Length, m.SizeBytes);
        Assert.Equal(new DateTimeOffset(File.GetLastWriteTimeUtc(path)), m.ModifiedAt);
        Assert.Equal("llama", m.Architecture);
        Assert.Equal("random-llama-64x3", m.Name);
        Assert.Equal(512, m.ContextLength);
        Assert.Equal(3, m.BlockCount);
        Assert.Equal(64, m.EmbeddingLength);
        Assert.Equal(4, m.HeadCount);
        Assert.Equal(2, m.HeadCountKv);
        Assert.Equal(16, m.HeadDim); // embedding / heads: the file has no key_length
        Assert.Equal(96, m.FeedForwardLength);
        Assert.Equal(Parameters(spec), m.ParameterCount);
        Assert.Equal("Q8_0", m.Quantization); // no general.file_type: the type of most 2-D tensors
        Assert.Equal(m.SizeBytes - GgufHeader.Read(path).DataOffset, m.WeightsBytes);
    }

    [Fact]
    public void HeadDim_ComesFromKeyLength_AndKvHeadsDefaultToHeads_OnlyWhenTheKeyIsAbsent()
    {
        var w = RandomLlama.Build(new RandomLlamaSpec { Embedding = 64, Heads = 4, KvHeads = 4, HeadDim = 32 });
        var m = ModelFiles.Describe(_files.Write("wide-heads.gguf", w));
        Assert.Equal(32, m.HeadDim);

        w.Remove("llama.attention.head_count_kv");
        Assert.Equal(4, ModelFiles.Describe(_files.Write("no-kv.gguf", w)).HeadCountKv);

        // Per-layer counts (an array) are not guessed from head_count.
        w.Set("llama.attention.head_count_kv", new[] { 1, 2 });
        Assert.Null(ModelFiles.Describe(_files.Write("kv-array.gguf", w)).HeadCountKv);
    }

    [Theory]
    [InlineData(0u, "F32")]
    [InlineData(1u, "F16")]
    [InlineData(2u, "Q4_0")]
    [InlineData(3u, "Q4_1")]
    [InlineData(7u, "Q8_0")]
    [InlineData(8u, "Q5_0")]
    [InlineData(9u, "Q5_1")]
    [InlineData(10u, "Q2_K")]
    [InlineData(11u, "Q3_K_S")]
    [InlineData(12u, "Q3_K_M")]
    [InlineData(13u, "Q3_K_L")]
    [InlineData(14u, "Q4_K_S")]
    [InlineData(15u, "Q4_K_M")]
    [InlineData(16u, "Q5_K_S")]
    [InlineData(17u, "Q5_K_M")]
    [InlineData(18u, "Q6_K")]
    [InlineData(19u, "IQ2_XXS")]
    [InlineData(20u, "IQ2_XS")]
    [InlineData(21u, "Q2_K_S")]
    [InlineData(22u, "IQ3_XS")]
    [InlineData(23u, "IQ3_XXS")]
    [InlineData(24u, "IQ1_S")]
    [InlineData(25u, "IQ4_NL")]
    [InlineData(26u, "IQ3_S")]
    [InlineData(27u, "IQ3_M")]
    [InlineData(28u, "IQ2_S")]
    [InlineData(29u, "IQ2_M")]
    [InlineData(30u, "IQ4_XS")]
    [InlineData(31u, "IQ1_M")]
    [InlineData(32u, "BF16")]
    [InlineData(36u, "TQ1_0")]
    [InlineData(37u, "TQ2_0")]
    [InlineData(4u, "F16")] // retired (Q4_1_SOME_F16): the most common weight type instead
    [InlineData(999u, "F16")]
    public void Quantization_IsLlamaCppsNameOfTheFileType_ElseTheMostCommonWeightType(uint fileType, string expected)
    {
        var w = RandomLlama.Build(new RandomLlamaSpec { WeightType = GgmlTypeCode.F16 }).Set("general.file_type", fileType);
        Assert.Equal(expected, ModelFiles.Describe(_files.Write($"ft-{fileType}.gguf", w)).Quantization);
    }

    [Theory]
    [InlineData("rand-small-F32.gguf", "F32")]
    [InlineData("rand-small-F16.gguf", "F16")]
    [InlineData("rand-small-Q8_0.gguf", "Q8_0")]
    [InlineData("rand-small-Q4_0.gguf", "Q4_0")]
    [InlineData("rand-small-Q4_K_M.gguf", "Q4_K_M")]
    [InlineData("rand-small-Q5_K_M.gguf", "Q5_K_M")]
    [InlineData("rand-small-Q6_K.gguf", "Q6_K")]
    public void TheRandSmallFixtures_NameTheirQuantization_AndTheirShape(string file, string quantization)
    {
        var m = ModelFiles.Describe(RepoPaths.Model("rand-small", file));
        Assert.Equal(file[..^5], m.Id);
        Assert.Equal(quantization, m.Quantization);
        // models/README.md: dim 256, ffn 768, 4 layers, 8 heads, 4 KV heads, 512-token vocabulary. Its "context 256" is not
        // what the files say: their llama.context_length is 128, and the worker's own reader agrees (GgufHeaderTests).
        Assert.Equal(("llama", 128, 4, 256, 8, 4, 32, 768), (m.Architecture, m.ContextLength, m.BlockCount, m.EmbeddingLength, m.HeadCount, m.HeadCountKv, m.HeadDim, m.FeedForwardLength));
        // token_embd + output (512 x 256 each) + 4 x (2 norms + q, o 256x256 + k, v 128x256 + 3 x 256x768) + output_norm
        Assert.Equal(2L * 512 * 256 + 4 * (2 * 256 + 2 * 256 * 256 + 2 * 128 * 256 + 3 * 256 * 768) + 256, m.ParameterCount);
    }

    [Fact]
    public void Aidreams_IsDescribedAsItsReadmeSays()
    {
        var m = ModelFiles.Describe(RepoPaths.Model("aidreams260K.gguf"));
        Assert.Equal("aidreams260K", m.Id);
        Assert.Equal(("llama", 128, 4, 64, 4, 4, 16, 172), (m.Architecture, m.ContextLength, m.BlockCount, m.EmbeddingLength, m.HeadCount, m.HeadCountKv, m.HeadDim, m.FeedForwardLength));
        Assert.Equal(263_744, m.ParameterCount); // "263,744 counted in the GGUF"
        Assert.Equal("F32", m.Quantization);
        Assert.Equal(1_068_640, m.SizeBytes);
        var h = GgufHeader.Read(m.Path);
        Assert.Equal(m.SizeBytes - h.DataOffset, m.WeightsBytes);
        Assert.Equal(m.ParameterCount * 4, h.Tensors.Sum(t => t.ByteLength)); // all F32
    }

    [Theory]
    [InlineData("/m/llama-3-8b.Q4_K_M.gguf", "llama-3-8b.Q4_K_M")]
    [InlineData("/m/Tiny.GGUF", "Tiny")]
    [InlineData("/m/weights.bin", "weights.bin")]
    [InlineData("/m/.gguf", ".gguf")]
    public void TheIdIsTheFileNameWithoutGguf(string path, string id) => Assert.Equal(id, ModelFiles.IdOf(path));
}
