using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;
using System.Text;

namespace Rbee.Worker.Gguf;

/// <summary>
/// A GGUF v2/v3 file, memory-mapped. Metadata is parsed into managed values; tensor data stays in the mapping
/// and is reached through <see cref="GgufTensor.Pointer"/>, so a 4 GB model costs page cache, not heap.
/// Every offset and size is checked at open; a truncated or corrupt file is refused naming the offset.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    private const uint Magic = 0x46554747; // "GGUF" little-endian
    private const int DefaultAlignment = 32;

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly Dictionary<string, GgufTensor> _byName;
    private byte* _base;

    public string Path { get; }
    public uint Version { get; }
    public long Length { get; }
    public int Alignment { get; }
    public long DataOffset { get; }
    public IReadOnlyDictionary<string, GgufValue> Metadata { get; }
    public IReadOnlyList<GgufTensor> Tensors { get; }

    private GgufFile(string path)
    {
        Path = path;
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"model file not found: {path}", path);
        Length = info.Length;
        if (Length < 24) throw new InvalidDataException($"{path}: {Length} bytes is too short for a GGUF header (offset 0)");
        _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + _view.PointerOffset;
        try
        {
            (Version, Metadata, Alignment, DataOffset, Tensors, _byName) = Parse(_base, Length, path);
        }
        catch
        {
            // A refused file must not stay open (and mapped) until the finalizer runs.
            Dispose();
            throw;
        }
    }

    private static (uint Version, Dictionary<string, GgufValue> Metadata, int Alignment, long DataOffset, List<GgufTensor> Tensors,
        Dictionary<string, GgufTensor> ByName) Parse(byte* @base, long length, string path)
    {
        var r = new Reader(@base, length, path);
        var magic = r.U32();
        if (magic != Magic) throw new InvalidDataException($"{path}: not a GGUF file");   // never the bytes: the file may be anything
        var version = r.U32();
        if (version is not (2 or 3)) throw new InvalidDataException($"{path}: GGUF version {version} is not supported (2 and 3 are; offset 4)");
        var tensorCount = r.I64Count("tensor count");
        var kvCount = r.I64Count("metadata count");

        var meta = new Dictionary<string, GgufValue>(StringComparer.Ordinal);
        for (long i = 0; i < kvCount; i++)
        {
            var key = r.String();
            var value = r.Value(key);
            meta[key] = value;
        }
        var alignment = meta.TryGetValue("general.alignment", out var a) ? (int)a.AsInt64() : DefaultAlignment;
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0)
            throw new InvalidDataException($"{path}: general.alignment {alignment} is not a power of two");

        var infos = new List<(string Name, long[] Dims, GgmlType Type, long Offset, long InfoAt)>((int)Math.Min(tensorCount, 1 << 16));
        for (long i = 0; i < tensorCount; i++)
        {
            var at = r.Position;
            var name = r.String();
            var nDims = r.U32();
            if (nDims is 0 or > 4) throw new InvalidDataException($"{path}: tensor '{name}' has {nDims} dimensions (offset {at})");
            var dims = new long[nDims];
            for (var d = 0; d < nDims; d++)
            {
                dims[d] = (long)r.U64();
                if (dims[d] <= 0) throw new InvalidDataException($"{path}: tensor '{name}' dimension {d} is {dims[d]} (offset {at})");
            }
            var type = (GgmlType)r.U32();
            var offset = (long)r.U64();
            infos.Add((name, dims, type, offset, at));
        }

        var dataOffset = AlignUp(r.Position, alignment);
        var tensors = new List<GgufTensor>(infos.Count);
        var byName = new Dictionary<string, GgufTensor>(StringComparer.Ordinal);
        foreach (var (name, dims, type, offset, infoAt) in infos)
        {
            long elements = 1;
            long bytes = -1;
            try
            {
                foreach (var d in dims) elements = checked(elements * d);
                if (GgmlTypeInfo.Layout(type) is { } layout)
                {
                    if (dims[0] % layout.BlockSize != 0)
                        throw new InvalidDataException($"{path}: tensor '{name}' row of {dims[0]} is not whole {type} blocks (offset {infoAt})");
                    bytes = checked(elements / layout.BlockSize * layout.BlockBytes);
                }
            }
            catch (OverflowException)
            {
                // No file holds a tensor whose size does not fit in 63 bits: the dimensions lie.
                throw new InvalidDataException($"{path}: tensor '{name}' dimensions [{string.Join(", ", dims)}] are too large for any file (offset {infoAt})");
            }
            if (offset < 0 || offset > length)
                throw new InvalidDataException($"{path}: tensor '{name}' data offset {offset} lies outside the file of {length} bytes (offset {infoAt})");
            if (offset % alignment != 0)
                throw new InvalidDataException($"{path}: tensor '{name}' data offset {offset} is not aligned to {alignment} (offset {infoAt})");
            var start = dataOffset + offset;
            if (bytes >= 0 && (start < dataOffset || start > length || bytes > length - start))
                throw new InvalidDataException(
                    $"{path}: tensor '{name}' data [{start}, {start + bytes}) lies outside the file of {length} bytes (truncated? offset {infoAt})");
            var t = new GgufTensor(name, dims, type, start, bytes, bytes >= 0 ? @base + start : null);
            if (!byName.TryAdd(name, t)) throw new InvalidDataException($"{path}: tensor '{name}' appears twice (offset {infoAt})");
            tensors.Add(t);
        }
        return (version, meta, alignment, dataOffset, tensors, byName);
    }

    /// <summary>Maps and checks a GGUF file; a missing file throws <see cref="FileNotFoundException"/>, a corrupt one
    /// <see cref="InvalidDataException"/> naming the offset.</summary>
    public static GgufFile Open(string path) => new(path);

    public bool TryGetTensor(string name, out GgufTensor tensor) => _byName.TryGetValue(name, out tensor!);

    public GgufTensor Tensor(string name) =>
        _byName.TryGetValue(name, out var t) ? t : throw new InvalidDataException($"{Path}: required tensor '{name}' is missing");

    public string? GetString(string key) => Metadata.TryGetValue(key, out var v) ? v.AsString() : null;
    public long? GetInt(string key) => Metadata.TryGetValue(key, out var v) ? v.AsInt64() : null;
    public double? GetFloat(string key) => Metadata.TryGetValue(key, out var v) ? v.AsDouble() : null;
    public bool? GetBool(string key) => Metadata.TryGetValue(key, out var v) ? v.AsBool() : null;
    public GgufValue? Get(string key) => Metadata.TryGetValue(key, out var v) ? v : null;

    private static long AlignUp(long x, int a) => (x + a - 1) / a * a;

    public void Dispose()
    {
        if (_base != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _base = null;
        }
        _view.Dispose();
        _map.Dispose();
    }

    /// <summary>Bounds-checked little-endian reader over the mapping.</summary>
    private sealed class Reader(byte* p, long length, string path)
    {
        public long Position;

        private void Need(long n, string what)
        {
            if (n < 0 || Position + n > length)
                throw new InvalidDataException($"{path}: {what} at offset {Position} runs past the end of the file ({length} bytes)");
        }

        public byte U8() { Need(1, "u8"); return p[Position++]; }
        public ushort U16() { Need(2, "u16"); var v = Unsafe.ReadUnaligned<ushort>(p + Position); Position += 2; return v; }
        public uint U32() { Need(4, "u32"); var v = Unsafe.ReadUnaligned<uint>(p + Position); Position += 4; return v; }
        public ulong U64() { Need(8, "u64"); var v = Unsafe.ReadUnaligned<ulong>(p + Position); Position += 8; return v; }

        public long I64Count(string what)
        {
            var at = Position;
            var v = (long)U64();
            if (v < 0 || v > length) throw new InvalidDataException($"{path}: {what} {v} is impossible (offset {at})");
            return v;
        }

        public string String()
        {
            var at = Position;
            var n = (long)U64();
            if (n < 0 || n > length - Position) throw new InvalidDataException($"{path}: string of {n} bytes at offset {at} runs past the end of the file");
            var s = Encoding.UTF8.GetString(p + Position, (int)n);
            Position += n;
            return s;
        }

        public GgufValue Value(string key) => ValueOf((GgufValueType)U32(), key);

        private GgufValue ValueOf(GgufValueType t, string key)
        {
            var at = Position;
            switch (t)
            {
                case GgufValueType.UInt8: return GgufValue.Of(key, t, U8());
                case GgufValueType.Int8: return GgufValue.Of(key, t, (sbyte)U8());
                case GgufValueType.UInt16: return GgufValue.Of(key, t, U16());
                case GgufValueType.Int16: return GgufValue.Of(key, t, (short)U16());
                case GgufValueType.UInt32: return GgufValue.Of(key, t, U32());
                case GgufValueType.Int32: return GgufValue.Of(key, t, (int)U32());
                case GgufValueType.Float32: return GgufValue.Of(key, t, BitConverter.Int32BitsToSingle((int)U32()));
                case GgufValueType.Bool: return GgufValue.Of(key, t, U8() != 0);
                case GgufValueType.String: return GgufValue.Of(key, t, String());
                case GgufValueType.UInt64: return GgufValue.Of(key, t, U64());
                case GgufValueType.Int64: return GgufValue.Of(key, t, (long)U64());
                case GgufValueType.Float64: return GgufValue.Of(key, t, BitConverter.Int64BitsToDouble((long)U64()));
                case GgufValueType.Array:
                {
                    var et = (GgufValueType)U32();
                    var n = I64Count("array length");
                    return et switch
                    {
                        GgufValueType.String => GgufValue.Of(key, t, ReadArray(n, () => String()), et),
                        GgufValueType.Float32 => GgufValue.Of(key, t, ReadArray(n, () => BitConverter.Int32BitsToSingle((int)U32())), et),
                        GgufValueType.Int32 => GgufValue.Of(key, t, ReadArray(n, () => (int)U32()), et),
                        GgufValueType.UInt32 => GgufValue.Of(key, t, ReadArray(n, () => U32()), et),
                        GgufValueType.UInt8 => GgufValue.Of(key, t, ReadArray(n, () => U8()), et),
                        GgufValueType.Int8 => GgufValue.Of(key, t, ReadArray(n, () => (sbyte)U8()), et),
                        GgufValueType.Int64 => GgufValue.Of(key, t, ReadArray(n, () => (long)U64()), et),
                        GgufValueType.UInt64 => GgufValue.Of(key, t, ReadArray(n, () => U64()), et),
                        GgufValueType.Float64 => GgufValue.Of(key, t, ReadArray(n, () => BitConverter.Int64BitsToDouble((long)U64())), et),
                        GgufValueType.Bool => GgufValue.Of(key, t, ReadArray(n, () => U8() != 0), et),
                        GgufValueType.Int16 => GgufValue.Of(key, t, ReadArray(n, () => (short)U16()), et),
                        GgufValueType.UInt16 => GgufValue.Of(key, t, ReadArray(n, () => U16()), et),
                        _ => throw new InvalidDataException($"{path}: array of unsupported element type {(uint)et} at offset {at}"),
                    };
                }
                default: throw new InvalidDataException($"{path}: unknown metadata value type {(uint)t} at offset {at - 4}");
            }
        }

        private static T[] ReadArray<T>(long n, Func<T> read)
        {
            var a = new T[n];
            for (long i = 0; i < n; i++) a[i] = read();
            return a;
        }
    }
}

public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>One metadata value. Arrays hold a typed .NET array (<c>string[]</c>, <c>float[]</c>, <c>int[]</c>, …).</summary>
public sealed class GgufValue
{
    /// <summary>The metadata key this value was read under, so a value of the wrong type can be named.</summary>
    public string Key { get; }
    public GgufValueType Type { get; }
    public GgufValueType? ElementType { get; }
    public object Value { get; }

    private GgufValue(string key, GgufValueType type, object value, GgufValueType? elementType)
    {
        Key = key;
        Type = type;
        Value = value;
        ElementType = elementType;
    }

    internal static GgufValue Of(string key, GgufValueType type, object value, GgufValueType? elementType = null) => new(key, type, value, elementType);

    public string AsString() => Value as string ?? throw new InvalidDataException($"metadata '{Key}' is {Type}, not a string");

    public long AsInt64() => Value switch
    {
        byte v => v, sbyte v => v, ushort v => v, short v => v, uint v => v, int v => v, long v => v,
        ulong v => checked((long)v), bool v => v ? 1 : 0,
        _ => throw new InvalidDataException($"metadata '{Key}' is {Type}, not an integer"),
    };

    public double AsDouble() => Value switch
    {
        float v => v, double v => v,
        _ => AsInt64(),
    };

    public bool AsBool() => Value is bool b ? b : AsInt64() != 0;

    public T[] AsArray<T>() => Value as T[] ?? throw new InvalidDataException(
        $"metadata '{Key}' is {Type}/{ElementType}, not an array of {typeof(T).Name}");

    public override string ToString() => Value is Array a ? $"[{a.Length} × {ElementType}]" : Value.ToString() ?? "";
}

/// <summary>A tensor's description and its bytes inside the mapping. <c>Dims[0]</c> is the row length (ggml's ne0).</summary>
public sealed unsafe class GgufTensor(string name, long[] dims, GgmlType type, long fileOffset, long byteLength, byte* pointer)
{
    public string Name { get; } = name;
    public long[] Dims { get; } = dims;
    public GgmlType Type { get; } = type;
    public long FileOffset { get; } = fileOffset;

    /// <summary>Byte length, or -1 for a type this engine does not read.</summary>
    public long ByteLength { get; } = byteLength;

    public byte* Pointer { get; } = pointer;

    // Computed once: Rows is read per token by embedding lookups.
    public long ElementCount { get; } = dims.Aggregate(1L, (n, d) => checked(n * d));

    public long Columns => Dims[0];
    public long Rows => ElementCount / Dims[0];

    public ReadOnlySpan<byte> Bytes => Pointer == null
        ? throw new NotSupportedException($"tensor '{Name}' has unsupported type {Type}")
        : new ReadOnlySpan<byte>(Pointer, checked((int)ByteLength));
}
