using System.Buffers.Binary;
using System.Text;

namespace Rbee.Testing.Gguf;

/// <summary>GGUF metadata value types, numbered as in the format (gguf_type).</summary>
public enum GgufMetaType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>
/// Writes GGUF v3 (or v2) files for tests and benchmarks: metadata of every type including arrays, tensors given
/// as F32 or F16 values, or as raw bytes of any ggml type (pre-quantized blocks), each aligned as the format asks.
/// Type codes are ggml's numbers (<see cref="GgmlTypeCode"/>); this project does not reference the worker, so
/// callers that have <c>Rbee.Worker.Gguf.GgmlType</c> pass <c>(uint)type</c>.
/// </summary>
public sealed class GgufWriter
{
    private readonly List<(string Key, byte[] Encoded)> _meta = [];
    private readonly List<(string Name, long[] Dims, uint Type, ReadOnlyMemory<byte> Data)> _tensors = [];

    /// <summary>GGUF version written (2 or 3; they differ only in what readers accept).</summary>
    public uint Version { get; init; } = 3;

    /// <summary>Data alignment. Anything but the default 32 is also recorded as <c>general.alignment</c>.</summary>
    public int Alignment { get; init; } = 32;

    // ---- metadata ----------------------------------------------------------------------------------------

    public GgufWriter Set(string key, string value) => Put(key, GgufMetaType.String, w => WriteString(w, value));
    public GgufWriter Set(string key, byte value) => Put(key, GgufMetaType.UInt8, w => w.Write(value));
    public GgufWriter Set(string key, sbyte value) => Put(key, GgufMetaType.Int8, w => w.Write(value));
    public GgufWriter Set(string key, ushort value) => Put(key, GgufMetaType.UInt16, w => w.Write(value));
    public GgufWriter Set(string key, short value) => Put(key, GgufMetaType.Int16, w => w.Write(value));
    public GgufWriter Set(string key, uint value) => Put(key, GgufMetaType.UInt32, w => w.Write(value));
    public GgufWriter Set(string key, int value) => Put(key, GgufMetaType.Int32, w => w.Write(value));
    public GgufWriter Set(string key, float value) => Put(key, GgufMetaType.Float32, w => w.Write(value));
    public GgufWriter Set(string key, bool value) => Put(key, GgufMetaType.Bool, w => w.Write((byte)(value ? 1 : 0)));
    public GgufWriter Set(string key, ulong value) => Put(key, GgufMetaType.UInt64, w => w.Write(value));
    public GgufWriter Set(string key, long value) => Put(key, GgufMetaType.Int64, w => w.Write(value));
    public GgufWriter Set(string key, double value) => Put(key, GgufMetaType.Float64, w => w.Write(value));

    public GgufWriter Set(string key, string[] values) => PutArray(key, GgufMetaType.String, values.Length, w => { foreach (var v in values) WriteString(w, v); });
    public GgufWriter Set(string key, byte[] values) => PutArray(key, GgufMetaType.UInt8, values.Length, w => w.Write(values));
    public GgufWriter Set(string key, sbyte[] values) => PutArray(key, GgufMetaType.Int8, values.Length, w => { foreach (var v in values) w.Write(v); });
    public GgufWriter Set(string key, ushort[] values) => PutArray(key, GgufMetaType.UInt16, values.Length, w => { foreach (var v in values) w.Write(v); });
    public GgufWriter Set(string key, short[] values) => PutArray(key, GgufMetaType.Int16, values.Length, w => { foreach (var v in values) w.Write(v); });
    public GgufWriter Set(string key, uint[] values) => PutArray(key, GgufMetaType.UInt32, values.Length, w => { foreach (var v in values) w.Write(v); });
    public GgufWriter Set(string key, int[] values) => PutArray(key, GgufMetaType.Int32, values.Length, w => { foreach (var v in values) w.Write(v); });
    public GgufWriter Set(string key, float[] values) => PutArray(key, GgufMetaType.Float32, values.Length, w => { foreach (var v in values) w.Write(v); });
    public GgufWriter Set(string key, bool[] values) => PutArray(key, GgufMetaType.Bool, values.Length, w => { foreach (var v in values) w.Write((byte)(v ? 1 : 0)); });
    public GgufWriter Set(string key, ulong[] values) => PutArray(key, GgufMetaType.UInt64, values.Length, w => { foreach (var v in values) w.Write(v); });
    public GgufWriter Set(string key, long[] values) => PutArray(key, GgufMetaType.Int64, values.Length, w => { foreach (var v in values) w.Write(v); });
    public GgufWriter Set(string key, double[] values) => PutArray(key, GgufMetaType.Float64, values.Length, w => { foreach (var v in values) w.Write(v); });

    /// <summary>A value already encoded as GGUF writes it after the key (type code, then payload), e.g. copied from another file.</summary>
    public GgufWriter SetEncoded(string key, byte[] typeAndPayload)
    {
        Remove(key);
        _meta.Add((key, typeAndPayload));
        return this;
    }

    public bool Remove(string key) => _meta.RemoveAll(m => m.Key == key) > 0;

    /// <summary>
    /// Copies metadata from another GGUF file, verbatim, every key that starts with one of <paramref name="prefixes"/>
    /// (all keys when none are given). Used to give a generated model a real tokenizer
    /// (<c>CopyMetadataFrom(vocabFile, "tokenizer.")</c>).
    /// </summary>
    public GgufWriter CopyMetadataFrom(string path, params string[] prefixes)
    {
        foreach (var (key, encoded) in GgufMetadataReader.ReadRaw(path))
            if (prefixes.Length == 0 || prefixes.Any(p => key.StartsWith(p, StringComparison.Ordinal)))
                SetEncoded(key, encoded);
        return this;
    }

    // ---- tensors -----------------------------------------------------------------------------------------

    /// <summary>An F32 tensor. <paramref name="dims"/> are ggml's ne: dims[0] is the row length.</summary>
    public GgufWriter AddTensorF32(string name, long[] dims, ReadOnlySpan<float> values)
    {
        CheckCount(name, dims, values.Length);
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return AddTensorRaw(name, dims, GgmlTypeCode.F32, bytes);
    }

    /// <summary>An F16 tensor; values are rounded to half precision.</summary>
    public GgufWriter AddTensorF16(string name, long[] dims, ReadOnlySpan<float> values)
    {
        CheckCount(name, dims, values.Length);
        var bytes = new byte[values.Length * 2];
        for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i * 2), (Half)values[i]);
        return AddTensorRaw(name, dims, GgmlTypeCode.F16, bytes);
    }

    /// <summary>A tensor of any ggml type given as its encoded bytes (blocks for quantized types). Not checked.</summary>
    public GgufWriter AddTensorRaw(string name, long[] dims, uint ggmlType, ReadOnlyMemory<byte> data)
    {
        if (dims.Length is 0 or > 4) throw new ArgumentException($"tensor '{name}': {dims.Length} dimensions (1 to 4 allowed)");
        if (_tensors.Any(t => t.Name == name)) throw new ArgumentException($"tensor '{name}' added twice");
        _tensors.Add((name, (long[])dims.Clone(), ggmlType, data));
        return this;
    }

    // ---- output ------------------------------------------------------------------------------------------

    public void Write(string path)
    {
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        Write(fs);
    }

    public void Write(Stream stream)
    {
        if (Alignment <= 0 || (Alignment & (Alignment - 1)) != 0) throw new InvalidOperationException($"alignment {Alignment} is not a power of two");
        var meta = _meta.ToList();
        if (Alignment != 32 && !meta.Any(m => m.Key == "general.alignment"))
            meta.Add(("general.alignment", Encode(GgufMetaType.UInt32, w => w.Write((uint)Alignment))));

        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(0x46554747u); // "GGUF"
        w.Write(Version);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)meta.Count);
        foreach (var (key, encoded) in meta)
        {
            WriteString(w, key);
            w.Write(encoded);
        }

        long offset = 0;
        foreach (var (name, dims, type, data) in _tensors)
        {
            WriteString(w, name);
            w.Write((uint)dims.Length);
            foreach (var d in dims) w.Write((ulong)d);
            w.Write(type);
            w.Write((ulong)offset);
            offset = AlignUp(offset + data.Length, Alignment);
        }
        w.Flush();
        Pad(w, stream.Position);

        foreach (var tensor in _tensors)
        {
            w.Write(tensor.Data.Span);
            w.Flush();
            Pad(w, stream.Position);
        }
    }

    private void Pad(BinaryWriter w, long position)
    {
        var pad = (int)(AlignUp(position, Alignment) - position);
        for (var i = 0; i < pad; i++) w.Write((byte)0);
    }

    private static long AlignUp(long x, int a) => (x + a - 1) / a * a;

    private static void CheckCount(string name, long[] dims, int count)
    {
        long n = 1;
        foreach (var d in dims) n *= d;
        if (n != count) throw new ArgumentException($"tensor '{name}': dims [{string.Join(", ", dims)}] hold {n} values, {count} given");
    }

    private GgufWriter Put(string key, GgufMetaType type, Action<BinaryWriter> payload) => SetEncoded(key, Encode(type, payload));

    private GgufWriter PutArray(string key, GgufMetaType elementType, int count, Action<BinaryWriter> items) =>
        SetEncoded(key, Encode(GgufMetaType.Array, w =>
        {
            w.Write((uint)elementType);
            w.Write((ulong)count);
            items(w);
        }));

    private static byte[] Encode(GgufMetaType type, Action<BinaryWriter> payload)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write((uint)type);
            payload(w);
        }
        return ms.ToArray();
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }
}

/// <summary>ggml tensor type numbers, for writers that do not reference the worker.</summary>
public static class GgmlTypeCode
{
    public const uint F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9;
    public const uint Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15, BF16 = 30;
}
