using System.Buffers.Binary;
using Rbee.Testing.Gguf;
using Rbee.Worker.Gguf;

namespace Rbee.Worker.Tests.Gguf;

/// <summary>Issue 5: a corrupted file is refused with the offset that is wrong; v2 and v3 are both read.</summary>
public sealed class GgufCorruptionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rbee-gguf-bad-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(GgufWriter w, Action<byte[]>? corrupt = null)
    {
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}.gguf");
        using (var ms = new MemoryStream())
        {
            w.Write(ms);
            var bytes = ms.ToArray();
            corrupt?.Invoke(bytes);
            File.WriteAllBytes(path, bytes);
        }
        return path;
    }

    private static GgufWriter Small(uint version = 3) =>
        new GgufWriter { Version = version }.Set("general.architecture", "llama").AddTensorF32("t", [4], [1, 2, 3, 4]);

    [Fact]
    public void Version2_IsRead()
    {
        using var f = GgufFile.Open(Write(Small(version: 2)));
        Assert.Equal(2u, f.Version);
        Assert.Equal("llama", f.GetString("general.architecture"));
    }

    [Fact]
    public void UnknownVersion_IsRefusedAtOffset4()
    {
        var e = Assert.Throws<InvalidDataException>(() => GgufFile.Open(Write(Small(), b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 7))));
        Assert.Contains("version 7", e.Message);
        Assert.Contains("offset 4", e.Message);
    }

    [Fact]
    public void KeyLengthPastTheEnd_IsRefusedNamingItsOffset()
    {
        // The first key's length sits right after the 24-byte header.
        var e = Assert.Throws<InvalidDataException>(() => GgufFile.Open(Write(Small(), b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(24), 1UL << 40))));
        Assert.Contains("offset 24", e.Message);
    }

    [Fact]
    public void UnknownValueType_IsRefusedNamingItsOffset()
    {
        // header 24 + key length 8 + "general.architecture" (20) = the value type at offset 52.
        var e = Assert.Throws<InvalidDataException>(() => GgufFile.Open(Write(Small(), b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(52), 99))));
        Assert.Contains("type 99", e.Message);
        Assert.Contains("offset 52", e.Message);
    }

    [Fact]
    public void TensorPastTheEnd_IsRefused()
    {
        var path = Write(new GgufWriter().AddTensorF32("t", [4], [1, 2, 3, 4]));
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(0, bytes.Length % 32); // the 16 data bytes are padded to the alignment
        File.WriteAllBytes(path, bytes[..^24]); // the padding and half of the tensor's data are gone
        var e = Assert.Throws<InvalidDataException>(() => GgufFile.Open(path));
        Assert.Contains("'t'", e.Message);
        Assert.Contains("outside the file", e.Message);
    }
}
