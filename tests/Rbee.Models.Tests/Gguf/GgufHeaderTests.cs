using Rbee.Models.Gguf;
using Rbee.Testing;
using Rbee.Testing.Gguf;
using WorkerGguf = Rbee.Worker.Gguf;

namespace Rbee.Models.Tests.Gguf;

/// <summary>The streaming header reader: what it keeps, what it skips, and how it refuses a file that lies or ends early.</summary>
public sealed class GgufHeaderTests : IDisposable
{
    private readonly TempFiles _files = new();

    public void Dispose() => _files.Dispose();

    public static TheoryData<string> Fixtures() =>
    [
        "aidreams260K.gguf",
        "rand-small/rand-small-F32.gguf",
        "rand-small/rand-small-F16.gguf",
        "rand-small/rand-small-Q8_0.gguf",
        "rand-small/rand-small-Q4_0.gguf",
        "rand-small/rand-small-Q4_K_M.gguf",
        "rand-small/rand-small-Q5_K_M.gguf",
        "rand-small/rand-small-Q6_K.gguf",
        "vocab/ggml-vocab-llama-spm.gguf",
    ];

    /// <summary>One key/value as the only metadata, and one small tensor: the offsets of the tests below follow from it.</summary>
    private static GgufWriter OneKey(Action<GgufWriter> set) => Tap(new GgufWriter(), set).AddTensorF32("t", [32], new float[32]);

    private static GgufWriter Tap(GgufWriter w, Action<GgufWriter> set)
    {
        set(w);
        return w;
    }

    [Fact]
    public void GeneratedFile_KeepsEveryScalar_SkipsArrays_AndDescribesTensorsAlignmentAndDataOffset()
    {
        var w = new GgufWriter { Alignment = 64 }
            .Set("u8", (byte)200).Set("i8", (sbyte)-5).Set("u16", (ushort)60000).Set("i16", (short)-300)
            .Set("u32", 4_000_000_000u).Set("i32", -7).Set("f32", 1.5f).Set("b", true)
            .Set("s", "héllo").Set("u64", ulong.MaxValue).Set("i64", -9_000_000_000L).Set("f64", 2.25)
            .Set("tokens", ["a", "bb", "ccc"]).Set("scores", new float[] { 1, 2, 3, 4 })
            .AddTensorF32("w", [32, 2], new float[64])
            .AddTensorRaw("q", [64, 3], GgmlTypeCode.Q8_0, new byte[2 * 34 * 3]);
        var path = _files.Write("gen.gguf", w);

        var h = GgufHeader.Read(path);

        Assert.Equal(3u, h.Version);
        Assert.Equal(64, h.Alignment);
        Assert.Equal(200, h.Get("u8")!.Value.AsInt64());
        Assert.Equal(-5, h.Get("i8")!.Value.AsInt64());
        Assert.Equal(60000, h.Get("u16")!.Value.AsInt64());
        Assert.Equal(-300, h.Get("i16")!.Value.AsInt64());
        Assert.Equal(4_000_000_000L, h.Get("u32")!.Value.AsInt64());
        Assert.Equal(-7, h.Get("i32")!.Value.AsInt64());
        Assert.Equal(1.5, h.Get("f32")!.Value.AsDouble());
        Assert.True(h.Get("b")!.Value.AsBool());
        Assert.Equal("héllo", h.Get("s")!.Value.AsString());
        Assert.Null(h.Get("u64")!.Value.AsInt64()); // above long.MaxValue: not an Int64, but still a number
        Assert.Equal(ulong.MaxValue, h.Get("u64")!.Value.AsDouble());
        Assert.Equal(-9_000_000_000L, h.Get("i64")!.Value.AsInt64());
        Assert.Equal(2.25, h.Get("f64")!.Value.AsDouble());
        Assert.Equal(64, h.Get("general.alignment")!.Value.AsInt64());

        Assert.False(h.Metadata.ContainsKey("tokens"));
        Assert.Equal((GgufValueType.String, 3L), (h.Arrays["tokens"].ElementType, h.Arrays["tokens"].Count));
        Assert.Equal((GgufValueType.Float32, 4L), (h.Arrays["scores"].ElementType, h.Arrays["scores"].Count));

        Assert.Equal(["w", "q"], h.Tensors.Select(t => t.Name));
        Assert.Equal([32L, 2L], h.Tensors[0].Dims);
        Assert.Equal(GgmlTypeCode.Q8_0, h.Tensors[1].Type);
        Assert.Equal(0, h.Tensors[0].Offset);
        Assert.Equal(256, h.Tensors[1].Offset); // 64 floats, aligned to 64
        Assert.Equal(256L, h.Tensors[0].ByteLength);
        Assert.Equal(204L, h.Tensors[1].ByteLength);
        Assert.Equal(0, h.DataOffset % 64);
        Assert.Equal(new FileInfo(path).Length, h.FileLength);
        Assert.Equal(h.DataOffset + 256 + 204, h.RequiredLength);
        Assert.Equal(h.DataOffset + 256 + 256, h.FileLength); // the writer pads the last tensor too
    }

    [Fact]
    public void Version2_IsRead()
    {
        var path = _files.Write("v2.gguf", new GgufWriter { Version = 2 }.Set("general.architecture", "llama").AddTensorF32("t", [4], new float[4]));
        var h = GgufHeader.Read(path);
        Assert.Equal(2u, h.Version);
        Assert.Equal("llama", h.Get("general.architecture")!.Value.AsString());
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void RealFixtures_AgreeWithTheWorkersOwnReader(string fixture)
    {
        var path = RepoPaths.Model(fixture.Split('/'));
        using var worker = WorkerGguf.GgufFile.Open(path);
        var h = GgufHeader.Read(path);

        Assert.Equal(worker.Version, h.Version);
        Assert.Equal(worker.Alignment, h.Alignment);
        Assert.Equal(worker.DataOffset, h.DataOffset);
        Assert.Equal(worker.Length, h.FileLength);
        Assert.Equal(worker.Tensors.Count, h.Tensors.Count);
        for (var i = 0; i < h.Tensors.Count; i++)
        {
            var (mine, theirs) = (h.Tensors[i], worker.Tensors[i]);
            Assert.Equal(theirs.Name, mine.Name);
            Assert.Equal(theirs.Dims, mine.Dims);
            Assert.Equal((uint)theirs.Type, mine.Type);
            Assert.Equal(theirs.FileOffset, h.DataOffset + mine.Offset);
            Assert.Equal(theirs.ElementCount, mine.ElementCount);
            if (theirs.ByteLength >= 0) Assert.Equal(theirs.ByteLength, mine.ByteLength);
        }
        Assert.Equal(worker.Metadata.Count, h.Metadata.Count + h.Arrays.Count);
        foreach (var (key, value) in worker.Metadata)
        {
            if (value.Value is Array array)
            {
                Assert.Equal(array.Length, h.Arrays[key].Count);
                Assert.Equal((uint)value.ElementType!.Value, (uint)h.Arrays[key].ElementType);
                continue;
            }
            var scalar = h.Metadata[key];
            Assert.Equal((uint)value.Type, (uint)scalar.Type);
            switch (value.Value)
            {
                case string s: Assert.Equal(s, scalar.AsString()); break;
                case float or double: Assert.Equal(value.AsDouble(), scalar.AsDouble()); break;
                case bool b: Assert.Equal(b, scalar.AsBool()); break;
                default: Assert.Equal(value.AsInt64(), scalar.AsInt64()); break;
            }
        }
        Assert.True(h.FileLength >= h.RequiredLength, "a complete fixture reads as incomplete");
    }

    [Fact]
    public void AVocabularyOf150kTokens_CostsNoMoreHeapThanOneOf1k()
    {
        string Vocab(int n) => _files.Write($"vocab-{n}.gguf", new GgufWriter()
            .Set("general.architecture", "llama")
            .Set("tokenizer.ggml.tokens", Enumerable.Range(0, n).Select(i => $"tok{i}").ToArray())
            .Set("tokenizer.ggml.scores", new float[n])
            .Set("tokenizer.ggml.token_type", new int[n])
            .AddTensorF32("t", [32], new float[32]));
        var small = Vocab(1_000);
        var large = Vocab(150_000);

        static long Allocated(string path)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            var h = GgufHeader.Read(path);
            var bytes = GC.GetAllocatedBytesForCurrentThread() - before;
            GC.KeepAlive(h);
            return bytes;
        }
        Allocated(small); // warm-up: JIT and first-use allocations are not the reader's
        Allocated(large);
        var smallBytes = Allocated(small);
        var largeBytes = Allocated(large);
        Assert.Equal(150_000, GgufHeader.Read(large).Arrays["tokenizer.ggml.tokens"].Count);
        // Same keys, same tensor: the 149k extra entries must not show up on the heap at all.
        Assert.True(largeBytes - smallBytes < 512, $"1k vocabulary: {smallBytes} B, 150k: {largeBytes} B");
        Assert.True(largeBytes < 32 * 1024, $"reading the 150k-vocabulary header allocated {largeBytes} B");
    }

    [Fact]
    public void AFileCutAnywhereInItsHeader_IsIncomplete_NamingTheOffset()
    {
        var bytes = TempFiles.Bytes(RandomLlama.Build(new RandomLlamaSpec { Vocab = 32, Layers = 1 }));
        var full = GgufHeader.Read(new MemoryStream(bytes), "full");
        for (var cut = 0; cut < full.DataOffset; cut++)
        {
            try
            {
                var h = GgufHeader.Read(new MemoryStream(bytes, 0, cut), $"cut-{cut}");
                // Only a cut in the padding after the tensor infos reads whole; its data is what is missing then.
                Assert.True(cut > full.DataOffset - full.Alignment, $"a file cut at {cut} of a {full.DataOffset}-byte header was read whole");
                Assert.True(h.RequiredLength > h.FileLength);
            }
            catch (IncompleteModelFileException e)
            {
                Assert.Contains("offset", e.Message, StringComparison.Ordinal);
                Assert.Contains($"file ends at {cut}", e.Message, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void AFileCutInItsTensorData_HasACompleteHeader_ButIsIncompleteAsAModel()
    {
        var full = TempFiles.Bytes(RandomLlama.Build(new RandomLlamaSpec { Vocab = 32, Layers = 1 }));
        var path = _files.Write("cut.gguf", full[..^100]);
        var h = GgufHeader.Read(path);
        Assert.True(h.RequiredLength > h.FileLength);
        var e = Assert.Throws<IncompleteModelFileException>(() => ModelFiles.Describe(path));
        Assert.Contains($"{h.RequiredLength}", e.Message, StringComparison.Ordinal);

        // The copy finishes: the same file is a model.
        File.WriteAllBytes(path, full);
        Assert.Equal("cut", ModelFiles.Describe(path).Id);
    }

    [Fact]
    public void NotAModel_ErrorNeverEchoesTheFilesBytes()
    {
        // A root hive asked to read /etc/shadow must not hand back its first bytes ("root") in any message (issue 12).
        var path = _files.Write("shadow", "root:$6$secret:19000:0:99999:7:::\n"u8.ToArray());
        var e = Assert.Throws<InvalidDataException>(() => GgufHeader.Read(path));
        Assert.Contains("not a GGUF file", e.Message, StringComparison.Ordinal);
        var withoutPath = e.Message.Replace(path, "", StringComparison.Ordinal);
        Assert.DoesNotContain("root", withoutPath, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("746F6F72", withoutPath, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void WrongMagicOrVersion_IsInvalid_NamingTheOffset()
    {
        var bytes = TempFiles.Bytes(OneKey(w => w.Set("general.name", "x")));
        var magic = (byte[])bytes.Clone();
        magic[0] = (byte)'X';
        var e = Assert.Throws<InvalidDataException>(() => GgufHeader.Read(_files.Write("magic.gguf", magic)));
        Assert.Contains("not a GGUF file", e.Message, StringComparison.Ordinal);
        Assert.Contains("offset 0", e.Message, StringComparison.Ordinal);

        var version = (byte[])bytes.Clone();
        version[4] = 4;
        e = Assert.Throws<InvalidDataException>(() => GgufHeader.Read(_files.Write("version.gguf", version)));
        Assert.Contains("version 4", e.Message, StringComparison.Ordinal);
        Assert.Contains("offset 4", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LyingLengths_BeyondTheFileAreIncomplete_BeyondAnyFileAreInvalid_BothNamingTheOffset()
    {
        // Offsets: magic 0, version 4, tensor count 8, metadata count 16, first key length 24, key bytes from 32.
        var name = OneKey(w => w.Set("general.name", "x")); // key of 12 bytes: type at 44, value length at 48
        AssertIncomplete(TempFiles.WithU64(name, 24, 60_000), "metadata key of 60000 bytes at offset 24");
        AssertInvalid(TempFiles.WithU64(name, 24, 1UL << 60), "offset 24");
        AssertInvalid(TempFiles.WithU64(name, 24, 70_000), "longer than GGUF allows"); // keys are at most 65535 bytes
        AssertIncomplete(TempFiles.WithU64(name, 48, 1UL << 40), "offset 48");
        AssertInvalid(TempFiles.WithU64(name, 48, ulong.MaxValue), "offset 48");
    }

    [Fact]
    public void LyingCounts_BeyondTheFileAreIncomplete_BeyondAnyFileAreInvalid_BothNamingTheOffset()
    {
        var w = OneKey(w => w.Set("general.name", "x"));
        AssertIncomplete(TempFiles.WithU64(w, 8, 1_000_000_000), "tensor count 1000000000");
        AssertInvalid(TempFiles.WithU64(w, 8, 1UL << 62), "offset 8");
        AssertIncomplete(TempFiles.WithU64(w, 16, 1_000_000), "offset 16");
        AssertInvalid(TempFiles.WithU64(w, 16, ulong.MaxValue), "offset 16");
    }

    [Fact]
    public void HugeArrayCounts_AreRefusedBeforeAnythingIsSkipped()
    {
        // key "a.tokens" (8 bytes) from 32, type at 40, element type at 44, count at 48
        var strings = OneKey(w => w.Set("a.tokens", ["x", "y"]));
        AssertInvalid(TempFiles.WithU64(strings, 48, 1UL << 60), "claims 1152921504606846976 array elements (offset 48)");
        AssertIncomplete(TempFiles.WithU64(strings, 48, 1_000_000), "offset 48");
        var floats = OneKey(w => w.Set("a.scores", new float[] { 1, 2 }));
        AssertInvalid(TempFiles.WithU64(floats, 48, ulong.MaxValue / 2), "offset 48");
        AssertIncomplete(TempFiles.WithU64(floats, 48, 1UL << 40), "offset 48");
    }

    [Fact]
    public void OtherMalformations_AreInvalid_NamingWhatAndWhere()
    {
        // One key "k": its length at 24, the key at 32, the type code at 33 (for an array: element type at 37).
        var unknownType = TempFiles.Bytes(OneKey(w => w.Set("k", 1u)));
        unknownType[33] = 99;
        AssertInvalid(unknownType, "unknown value type 99 (offset 33)");

        var nested = TempFiles.Bytes(OneKey(w => w.Set("k", new[] { 1u })));
        nested[37] = (byte)GgufValueType.Array;
        AssertInvalid(nested, "array of unsupported element type 9 (offset 37)");

        // GgufWriter replaces a key set twice, so the duplicates are made by renaming in the bytes.
        AssertInvalid(Rename(TempFiles.Bytes(OneKey(w => w.Set("ka", 1u).Set("kb", 2u))), "kb", "ka"), "metadata key 'ka' appears twice");
        AssertInvalid(Rename(TempFiles.Bytes(new GgufWriter().AddTensorF32("ta", [4], new float[4]).AddTensorF32("tb", [4], new float[4])), "tb", "ta"),
            "tensor 'ta' appears twice");

        AssertInvalid(TempFiles.Bytes(new GgufWriter().Set("general.alignment", 48u).AddTensorF32("t", [4], new float[4])),
            "general.alignment 48 is not a power of two (offset 24)");
        AssertInvalid(TempFiles.Bytes(new GgufWriter().AddTensorRaw("t", [33, 2], GgmlTypeCode.Q8_0, new byte[68])),
            "not a whole number of Q8_0 blocks");

        // One tensor "t" and no metadata: its name length at 24, the name at 32, n_dims at 33, the one dim at 37,
        // the type at 45, the data offset at 49.
        var single = new GgufWriter().AddTensorF32("t", [4], new float[4]);
        var dims = TempFiles.Bytes(single);
        dims[33] = 5;
        AssertInvalid(dims, "tensor 't' has 5 dimensions (at most 4) (offset 24)");
        AssertInvalid(TempFiles.WithU64(single, 49, 8), "tensor 't' data offset 8 is not aligned to 32 (offset 24)");
    }

    private static byte[] Rename(byte[] bytes, string from, string to)
    {
        var f = System.Text.Encoding.UTF8.GetBytes(from);
        var i = bytes.AsSpan().IndexOf(f);
        Assert.True(i >= 0);
        var copy = (byte[])bytes.Clone();
        System.Text.Encoding.UTF8.GetBytes(to).CopyTo(copy, i);
        return copy;
    }

    private void AssertIncomplete(byte[] bytes, string expected)
    {
        var e = Assert.Throws<IncompleteModelFileException>(() => GgufHeader.Read(_files.Write($"f-{Guid.NewGuid():N}.gguf", bytes)));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    private void AssertInvalid(byte[] bytes, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => GgufHeader.Read(_files.Write($"f-{Guid.NewGuid():N}.gguf", bytes)));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Contains("offset", e.Message, StringComparison.Ordinal);
    }
}
