using System.Buffers.Binary;
using Rbee.Testing.Gguf;

namespace Rbee.Models.Tests;

/// <summary>A folder of the test's own for generated GGUF files, removed afterwards.</summary>
public sealed class TempFiles : IDisposable
{
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("rbee-models-").FullName;

    public string PathOf(string name) => System.IO.Path.Combine(Directory, name);

    /// <summary>Writes <paramref name="writer"/> to a file named <paramref name="name"/>; returns its path.</summary>
    public string Write(string name, GgufWriter writer)
    {
        var path = PathOf(name);
        writer.Write(path);
        return path;
    }

    /// <summary>Writes raw bytes (a hand-made or patched file); returns its path.</summary>
    public string Write(string name, byte[] bytes)
    {
        var path = PathOf(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>The bytes of <paramref name="writer"/>'s file with a u64 at <paramref name="offset"/> replaced.</summary>
    public static byte[] WithU64(GgufWriter writer, long offset, ulong value)
    {
        using var ms = new MemoryStream();
        writer.Write(ms);
        var bytes = ms.ToArray();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan((int)offset), value);
        return bytes;
    }

    public static byte[] Bytes(GgufWriter writer)
    {
        using var ms = new MemoryStream();
        writer.Write(ms);
        return ms.ToArray();
    }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); }
        catch (IOException) { }
    }
}
