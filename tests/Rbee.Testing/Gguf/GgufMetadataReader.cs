using System.Buffers.Binary;
using System.Text;

namespace Rbee.Testing.Gguf;

/// <summary>
/// Reads only the metadata section of a GGUF file, each value kept as its encoded bytes (type code + payload), so
/// <see cref="GgufWriter.CopyMetadataFrom"/> can copy values verbatim without understanding them. The worker's own
/// reader is not used here on purpose: test utilities must not depend on the code they test.
/// </summary>
public static class GgufMetadataReader
{
    public static List<(string Key, byte[] Encoded)> ReadRaw(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var r = new Cursor(bytes);
        if (r.U32() != 0x46554747u) throw new InvalidDataException($"{path}: not a GGUF file");
        var version = r.U32();
        if (version is not (2 or 3)) throw new InvalidDataException($"{path}: GGUF version {version} not supported");
        r.U64(); // tensor count
        var kvCount = (long)r.U64();
        var result = new List<(string, byte[])>();
        for (long i = 0; i < kvCount; i++)
        {
            var key = r.String();
            var start = r.Pos;
            SkipValue(r, (GgufMetaType)r.U32());
            result.Add((key, bytes.AsSpan(start, r.Pos - start).ToArray()));
        }
        return result;
    }

    private static void SkipValue(Cursor r, GgufMetaType type)
    {
        switch (type)
        {
            case GgufMetaType.String: r.String(); break;
            case GgufMetaType.Array:
            {
                var et = (GgufMetaType)r.U32();
                var n = (long)r.U64();
                if (et == GgufMetaType.String)
                    for (long i = 0; i < n; i++) r.String();
                else
                    r.Skip(checked((int)(n * ScalarSize(et))));
                break;
            }
            default: r.Skip(ScalarSize(type)); break;
        }
    }

    private static int ScalarSize(GgufMetaType t) => t switch
    {
        GgufMetaType.UInt8 or GgufMetaType.Int8 or GgufMetaType.Bool => 1,
        GgufMetaType.UInt16 or GgufMetaType.Int16 => 2,
        GgufMetaType.UInt32 or GgufMetaType.Int32 or GgufMetaType.Float32 => 4,
        GgufMetaType.UInt64 or GgufMetaType.Int64 or GgufMetaType.Float64 => 8,
        _ => throw new InvalidDataException($"metadata type {(uint)t} has no fixed size"),
    };

    private sealed class Cursor(byte[] b)
    {
        public int Pos;
        public uint U32() { var v = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(Pos)); Pos += 4; return v; }
        public ulong U64() { var v = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(Pos)); Pos += 8; return v; }
        public void Skip(int n) { if (n < 0 || Pos + n > b.Length) throw new InvalidDataException("metadata runs past the end of the file"); Pos += n; }
        public string String()
        {
            var n = checked((int)U64());
            Skip(n);
            return Encoding.UTF8.GetString(b, Pos - n, n);
        }
    }
}
