using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Rbee.Models.Gguf;

/// <summary>GGUF metadata value types, numbered as in the format (<c>gguf_type</c>).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>One scalar metadata value (an integer, a float, a bool or a string), kept as read.</summary>
public readonly struct GgufScalar
{
    private readonly ulong _bits;
    private readonly string? _text;

    internal GgufScalar(GgufValueType type, ulong bits, string? text = null)
    {
        Type = type;
        _bits = bits;
        _text = text;
    }

    public GgufValueType Type { get; }

    /// <summary>The value as an integer: any integer type (a u64 above <see cref="long.MaxValue"/> gives null) or a bool.</summary>
    public long? AsInt64() => Type switch
    {
        GgufValueType.UInt8 or GgufValueType.UInt16 or GgufValueType.UInt32 or GgufValueType.Bool => (long)_bits,
        GgufValueType.Int8 => (sbyte)_bits,
        GgufValueType.Int16 => (short)_bits,
        GgufValueType.Int32 => (int)_bits,
        GgufValueType.Int64 => (long)_bits,
        GgufValueType.UInt64 => _bits <= long.MaxValue ? (long)_bits : null,
        _ => null,
    };

    /// <summary>The value as a number: a float, or an integer widened.</summary>
    public double? AsDouble() => Type switch
    {
        GgufValueType.Float32 => BitConverter.Int32BitsToSingle((int)_bits),
        GgufValueType.Float64 => BitConverter.Int64BitsToDouble((long)_bits),
        GgufValueType.UInt64 => _bits,
        _ => AsInt64(),
    };

    public string? AsString() => Type == GgufValueType.String ? _text : null;

    public bool? AsBool() => Type == GgufValueType.Bool ? _bits != 0 : null;

    public override string ToString() => Type switch
    {
        GgufValueType.String => _text ?? "",
        GgufValueType.Bool => _bits != 0 ? "true" : "false",
        GgufValueType.Float32 or GgufValueType.Float64 => AsDouble()!.Value.ToString(CultureInfo.InvariantCulture),
        GgufValueType.UInt64 => _bits.ToString(CultureInfo.InvariantCulture),
        _ => AsInt64()!.Value.ToString(CultureInfo.InvariantCulture),
    };
}

/// <summary>An array value that was skipped, not loaded: its element type, length and where it starts.</summary>
public readonly record struct GgufArrayInfo(GgufValueType ElementType, long Count, long Offset);

/// <summary>A tensor's description: <c>Dims[0]</c> is the row length (ggml's ne0); <c>Offset</c> is relative to the data section.</summary>
public sealed record GgufTensorInfo(string Name, IReadOnlyList<long> Dims, uint Type, long Offset)
{
    public long ElementCount { get; } = Dims.Aggregate(1L, (n, d) => checked(n * d));

    /// <summary>Bytes of the tensor's data, or null when its type is not in <see cref="GgmlTypes"/>.</summary>
    public long? ByteLength { get; } = GgmlTypes.ByteLength(Type, Dims);
}

/// <summary>
/// The header of a GGUF v2/v3 file (magic, version, metadata, tensor infos, alignment, data offset), read in one
/// forward pass through a 64 KiB buffer of its own, without mapping or loading the file. Scalars are kept; array
/// values are skipped, never loaded, so a 150k-entry tokenizer vocabulary costs a few reads and no heap. Every count
/// and length is checked against the file's length before it is used: one the file cannot hold throws
/// <see cref="IncompleteModelFileException"/> (truncated, still being copied, or lying: the bytes cannot tell which),
/// one no file could hold (over 2^48 bytes), or any other malformation, throws <see cref="InvalidDataException"/>;
/// both name the offset.
/// </summary>
public sealed class GgufHeader
{
    public const uint Magic = 0x46554747; // "GGUF" little-endian
    public const int DefaultAlignment = 32;

    /// <summary>GGUF caps key (and tensor name) length at 65535 bytes.</summary>
    public const int MaxKeyBytes = 65535;

    /// <summary>String values longer than this are skipped rather than kept (chat templates are tens of KiB).</summary>
    public const int MaxKeptStringBytes = 1 << 20;

    // No real file comes near this; a count or length that needs more is a lie, whatever the file's length.
    private const long ImpossibleBytes = 1L << 48;

    // The smallest encodings: a tensor info (name length, dimension count, type, offset; a scalar has no dimensions)
    // and a key/value (key length, type, one byte). A count is checked against what the rest of the file could hold.
    private const long MinTensorInfoBytes = 8 + 4 + 4 + 8;
    private const long MinKeyValueBytes = 8 + 4 + 1;

    private const int BufferBytes = 64 * 1024;

    private GgufHeader(string path, uint version, long fileLength, Dictionary<string, GgufScalar> metadata,
        Dictionary<string, GgufArrayInfo> arrays, List<GgufTensorInfo> tensors, int alignment, long dataOffset)
    {
        Path = path;
        Version = version;
        FileLength = fileLength;
        Metadata = metadata;
        Arrays = arrays;
        Tensors = tensors;
        Alignment = alignment;
        DataOffset = dataOffset;
    }

    public string Path { get; }
    public uint Version { get; }

    /// <summary>The file's length when it was read.</summary>
    public long FileLength { get; }

    /// <summary>Scalar values by key.</summary>
    public IReadOnlyDictionary<string, GgufScalar> Metadata { get; }

    /// <summary>Array values by key: type and length only.</summary>
    public IReadOnlyDictionary<string, GgufArrayInfo> Arrays { get; }

    public IReadOnlyList<GgufTensorInfo> Tensors { get; }
    public int Alignment { get; }

    /// <summary>Where tensor data starts: the end of the tensor infos, aligned up to <see cref="Alignment"/>.</summary>
    public long DataOffset { get; }

    /// <summary>The length a complete file has at least: the end of its last tensor whose type is known (else the data offset).</summary>
    public long RequiredLength
    {
        get
        {
            var end = Tensors.Count > 0 ? DataOffset : 0;
            foreach (var t in Tensors)
                if (t.ByteLength is { } bytes) end = Math.Max(end, DataOffset + t.Offset + bytes);
            return end;
        }
    }

    public GgufScalar? Get(string key) => Metadata.TryGetValue(key, out var v) ? v : null;

    /// <summary>Reads the header of the file at <paramref name="path"/>.</summary>
    public static GgufHeader Read(string path)
    {
        // FileStream's own buffer is off (bufferSize 0): the reader keeps one of its own and skips by moving a position.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0,
            FileOptions.SequentialScan);
        return Read(stream, path);
    }

    /// <summary>Reads a header from a seekable stream positioned anywhere; <paramref name="name"/> names it in errors.</summary>
    public static GgufHeader Read(Stream stream, string name)
    {
        if (!stream.CanSeek || !stream.CanRead) throw new ArgumentException("the stream must be readable and seekable", nameof(stream));
        var buffer = ArrayPool<byte>.Shared.Rent(BufferBytes);
        try
        {
            return new Reader(stream, buffer, name).ReadHeader();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private sealed class Reader(Stream stream, byte[] buffer, string name)
    {
        private readonly long _length = stream.Length;
        private long _pos;
        private long _bufferStart;
        private int _bufferLength;

        public GgufHeader ReadHeader()
        {
            if (_length < 4) throw Incomplete(0, 4, "the magic");
            var magic = U32();
            if (magic != Magic) throw Invalid(0, "not a GGUF file");   // never the bytes: the file may be anything (/etc/shadow)
            var version = U32();
            if (version is not (2 or 3)) throw Invalid(4, $"GGUF version {version} is not supported (2 and 3 are)");
            var tensorCount = Count("tensor count", MinTensorInfoBytes);
            var kvCount = Count("metadata count", MinKeyValueBytes);

            var metadata = new Dictionary<string, GgufScalar>(StringComparer.Ordinal);
            var arrays = new Dictionary<string, GgufArrayInfo>(StringComparer.Ordinal);
            long alignmentAt = -1;
            for (long i = 0; i < kvCount; i++)
            {
                var at = _pos;
                var key = Key("metadata key");
                if (key == "general.alignment") alignmentAt = at;
                var typeAt = _pos;
                var type = (GgufValueType)U32();
                if (metadata.ContainsKey(key) || arrays.ContainsKey(key)) throw Invalid(at, $"metadata key '{key}' appears twice");
                if (type == GgufValueType.Array) arrays[key] = SkipArray(key);
                else if (Scalar(type, typeAt, key) is { } value) metadata[key] = value;
            }

            var alignment = DefaultAlignment;
            if (metadata.TryGetValue("general.alignment", out var a))
            {
                var value = a.AsInt64();
                if (value is not > 0 || value > 1 << 30 || (value & (value - 1)) != 0)
                    throw Invalid(alignmentAt, $"general.alignment {a} is not a power of two");
                alignment = (int)value;
            }

            var tensors = new List<GgufTensorInfo>((int)Math.Min(tensorCount, 4096));
            var names = new HashSet<string>(StringComparer.Ordinal);
            for (long i = 0; i < tensorCount; i++) tensors.Add(TensorInfo(alignment, names));
            var dataOffset = (_pos + alignment - 1) / alignment * alignment;
            return new GgufHeader(name, version, _length, metadata, arrays, tensors, alignment, dataOffset);
        }

        private GgufTensorInfo TensorInfo(int alignment, HashSet<string> names)
        {
            var at = _pos;
            var tensorName = Key("tensor name");
            var nDims = U32();
            // ggml tensors have at most 4 dimensions (GGML_MAX_DIMS).
            if (nDims > 4) throw Invalid(at, $"tensor '{tensorName}' has {nDims} dimensions (at most 4)");
            var dims = new long[nDims];
            long elements = 1;
            for (var d = 0; d < nDims; d++)
            {
                var dim = U64();
                if (dim > (ulong)ImpossibleBytes) throw Invalid(at, $"tensor '{tensorName}' dimension {d} is {dim}");
                dims[d] = (long)dim;
                elements = dims[d] == 0 ? 0 : elements > ImpossibleBytes / dims[d] ? ImpossibleBytes + 1 : elements * dims[d];
                if (elements > ImpossibleBytes) throw Invalid(at, $"tensor '{tensorName}' has more than 2^48 elements");
            }
            var type = U32();
            var offset = U64();
            if (offset > (ulong)ImpossibleBytes) throw Invalid(at, $"tensor '{tensorName}' data offset {offset} is impossible");
            if ((long)offset % alignment != 0) throw Invalid(at, $"tensor '{tensorName}' data offset {offset} is not aligned to {alignment}");
            if (!names.Add(tensorName)) throw Invalid(at, $"tensor '{tensorName}' appears twice");
            try
            {
                return new GgufTensorInfo(tensorName, dims, type, (long)offset);
            }
            catch (InvalidDataException e)
            {
                throw Invalid(at, $"tensor '{tensorName}': {e.Message}");
            }
        }

        private GgufScalar? Scalar(GgufValueType type, long typeAt, string key) => type switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => new GgufScalar(type, Take(1, "a value")[0]),
            GgufValueType.UInt16 or GgufValueType.Int16 => new GgufScalar(type, BinaryPrimitives.ReadUInt16LittleEndian(Take(2, "a value"))),
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => new GgufScalar(type, U32()),
            GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => new GgufScalar(type, U64()),
            GgufValueType.String => StringValue(),
            _ => throw Invalid(typeAt, $"metadata '{key}' has unknown value type {(uint)type}"),
        };

        private GgufScalar? StringValue()
        {
            var at = _pos;
            var n = Length("string", at);
            if (n > MaxKeptStringBytes)
            {
                Skip(n, at, "a string");
                return null;
            }
            return new GgufScalar(GgufValueType.String, 0, Text((int)n, at, "a string"));
        }

        private GgufArrayInfo SkipArray(string key)
        {
            var at = _pos;
            var elementType = (GgufValueType)U32();
            var countAt = _pos;
            var raw = U64();
            var elementSize = elementType switch
            {
                GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
                GgufValueType.UInt16 or GgufValueType.Int16 => 2,
                GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
                GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
                GgufValueType.String => 8, // each element is at least its length
                // llama.cpp's reader refuses arrays of arrays too: no model file has them.
                _ => throw Invalid(at, $"metadata '{key}' is an array of unsupported element type {(uint)elementType}"),
            };
            if (raw > (ulong)(ImpossibleBytes / elementSize)) throw Invalid(countAt, $"metadata '{key}' claims {raw} array elements");
            var count = (long)raw;
            if (count * elementSize > _length - _pos)
                throw Incomplete(countAt, count * elementSize, $"metadata '{key}', an array of {count} {elementType} values,");
            if (elementType != GgufValueType.String) Skip(count * elementSize, countAt, "an array");
            else
                // The hot loop of a vocabulary: no string is built here unless the file is refused.
                for (long i = 0; i < count; i++)
                {
                    var itemAt = _pos;
                    Skip(Length("an array element", itemAt), itemAt, "an array element");
                }
            return new GgufArrayInfo(elementType, count, at);
        }

        private long Count(string what, long minBytesEach)
        {
            var at = _pos;
            var raw = U64();
            if (raw > (ulong)(ImpossibleBytes / minBytesEach)) throw Invalid(at, $"{what} {raw} is impossible");
            var count = (long)raw;
            if (count * minBytesEach > _length - _pos)
                throw Incomplete(at, count * minBytesEach, $"{what} {count} (at least {minBytesEach} bytes each)");
            return count;
        }

        private string Key(string what)
        {
            var at = _pos;
            var n = Length(what, at, MaxKeyBytes);
            return Text((int)n, at, what);
        }

        /// <summary>A string's length field, checked against what no file could hold, against <paramref name="max"/>,
        /// then against this file.</summary>
        private long Length(string what, long at, long max = ImpossibleBytes)
        {
            var raw = U64();
            if (raw > (ulong)ImpossibleBytes) throw Invalid(at, $"{what} claims {raw} bytes");
            var n = (long)raw;
            if (n > max) throw Invalid(at, $"{what} of {n} bytes is longer than GGUF allows ({max})");
            if (n > _length - _pos) throw Incomplete(at, n, $"{what} of {n} bytes");
            return n;
        }

        private string Text(int n, long at, string what)
        {
            if (n <= buffer.Length) return Encoding.UTF8.GetString(Take(n, what));
            var bytes = ArrayPool<byte>.Shared.Rent(n);
            try
            {
                stream.Position = _pos;
                stream.ReadExactly(bytes, 0, n);
                _pos += n;
                return Encoding.UTF8.GetString(bytes, 0, n);
            }
            catch (EndOfStreamException)
            {
                throw Incomplete(at, n, what);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(bytes);
            }
        }

        private uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, "a u32"));

        private ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, "a u64"));

        private void Skip(long n, long at, string what)
        {
            if (n > _length - _pos) throw Incomplete(at, n, what);
            _pos += n;
        }

        /// <summary>The next <paramref name="n"/> bytes (at most the buffer's size), refilling the buffer from the file when needed.</summary>
        private ReadOnlySpan<byte> Take(int n, string what)
        {
            if (n > _length - _pos) throw Incomplete(_pos, n, what);
            if (_pos < _bufferStart || _pos + n > _bufferStart + _bufferLength)
            {
                stream.Position = _pos;
                _bufferStart = _pos;
                _bufferLength = 0;
                int read;
                while (_bufferLength < buffer.Length && (read = stream.Read(buffer, _bufferLength, buffer.Length - _bufferLength)) > 0)
                    _bufferLength += read;
                // The file shrank under us (a copy restarted): the same as being cut short.
                if (_bufferLength < n) throw Incomplete(_pos, n, what);
            }
            var span = buffer.AsSpan((int)(_pos - _bufferStart), n);
            _pos += n;
            return span;
        }

        private IncompleteModelFileException Incomplete(long at, long bytes, string what) =>
            new($"{name}: {what} at offset {at} needs {bytes} bytes but the file ends at {_length} (truncated, or still being copied)");

        private InvalidDataException Invalid(long at, string what) => new($"{name}: {what} (offset {at})");
    }
}
