using Rbee.Testing;
using Rbee.Worker.Gguf;

namespace Rbee.Worker.Tests.Gguf;

public sealed class GgufFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-gguf-file-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

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
        var path = Path.Combine(_dir, "truncated.gguf");
        var bytes = File.ReadAllBytes(src);
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length - 1000).ToArray());
        var e = Assert.Throws<InvalidDataException>(() => GgufFile.Open(path));
        Assert.Contains("offset", e.Message);
        Assert.Contains("outside the file", e.Message);
    }

    [Fact]
    public void RefusedFile_IsNotLeftOpen()
    {
        var path = Path.Combine(_dir, "refused.gguf");
        File.WriteAllBytes(path, new byte[64]);
        Assert.Throws<InvalidDataException>(() => GgufFile.Open(path));
        // An exclusive open fails while any handle (a mapping left to the finalizer) still holds the file.
        using var exclusive = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        Assert.Equal(64, exclusive.Length);
    }

    [Fact]
    public void NotGguf_IsRefused()
    {
        var path = Path.Combine(_dir, "zeros.gguf");
        File.WriteAllBytes(path, new byte[64]);
        var e = Assert.Throws<InvalidDataException>(() => GgufFile.Open(path));
        Assert.Contains("not a GGUF file", e.Message);
    }

    [Fact]
    public void NotGguf_ErrorNeverEchoesTheFilesBytes()
    {
        // A worker started on /etc/shadow must not print its first bytes ("root") into its log or a job's error (issue 12).
        var path = Path.Combine(_dir, "shadow");
        File.WriteAllText(path, "root:$6$secret:19000:0:99999:7:::\n");
        var e = Assert.Throws<InvalidDataException>(() => GgufFile.Open(path));
        Assert.Contains("not a GGUF file", e.Message);
        Assert.DoesNotContain("root", e.Message.Replace(path, "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("746F6F72", e.Message, StringComparison.OrdinalIgnoreCase);
    }
}
