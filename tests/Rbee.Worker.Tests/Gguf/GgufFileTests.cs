using Rbee.Testing;
using Rbee.Worker.Gguf;

namespace Rbee.Worker.Tests.Gguf;

public class GgufFileTests
{
    [Fact]
    public void RealTinyModel_MetadataAndTensorsAreRead()
    {
        using var f = GgufFile.Open(RepoPaths.Model("aidreams260K.gguf"));
        Assert.Equal("llama", f.GetString("general.architecture"));
        Assert.Equal(64, f.GetInt("llama.embedding_length"));
        Assert.Equal(4, f.GetInt("llama.block_count"));
        var tokens = f.Get("tokenizer.ggml.tokens")!.AsArray<string>();
        Assert.Equal(512, tokens.Length);
        var emb = f.Tensor("token_embd.weight");
        Assert.Equal(GgmlType.F32, emb.Type);
        Assert.Equal([64L, 512L], emb.Dims);
        Assert.Equal(64 * 512 * 4, emb.ByteLength);
    }

    [Fact]
    public void TruncatedFile_IsRefusedNamingTheOffset()
    {
        var src = RepoPaths.Model("aidreams260K.gguf");
        var path = Path.Combine(Path.GetTempPath(), $"truncated-{Guid.NewGuid():N}.gguf");
        var bytes = File.ReadAllBytes(src);
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length - 1000).ToArray());
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => GgufFile.Open(path));
            Assert.Contains("offset", e.Message);
            Assert.Contains("outside the file", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void NotGguf_IsRefused()
    {
        var path = Path.Combine(Path.GetTempPath(), $"notgguf-{Guid.NewGuid():N}.gguf");
        File.WriteAllBytes(path, new byte[64]);
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => GgufFile.Open(path));
            Assert.Contains("not a GGUF file", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
