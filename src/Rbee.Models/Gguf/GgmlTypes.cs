namespace Rbee.Models.Gguf;

/// <summary>One ggml tensor type: its name and block geometry (elements per block, bytes per block).</summary>
public readonly record struct GgmlTypeLayout(string Name, int BlockSize, int BlockBytes);

/// <summary>
/// ggml's tensor types as GGUF numbers them (<c>ggml_type</c>), with the block sizes of ggml's <c>type_traits</c>
/// table. Used to know how many bytes a tensor occupies (to tell a complete file from one still being copied) and to
/// name the weight type of a file that does not say its <c>general.file_type</c>. The gaps (4, 5, 31-33, 36-38) are
/// types ggml removed from GGUF files.
/// </summary>
public static class GgmlTypes
{
    private static readonly GgmlTypeLayout?[] Table = Build();

    private static GgmlTypeLayout?[] Build()
    {
        var t = new GgmlTypeLayout?[40];
        t[0] = new("F32", 1, 4);
        t[1] = new("F16", 1, 2);
        t[2] = new("Q4_0", 32, 18);
        t[3] = new("Q4_1", 32, 20);
        t[6] = new("Q5_0", 32, 22);
        t[7] = new("Q5_1", 32, 24);
        t[8] = new("Q8_0", 32, 34);
        t[9] = new("Q8_1", 32, 36);
        t[10] = new("Q2_K", 256, 84);
        t[11] = new("Q3_K", 256, 110);
        t[12] = new("Q4_K", 256, 144);
        t[13] = new("Q5_K", 256, 176);
        t[14] = new("Q6_K", 256, 210);
        t[15] = new("Q8_K", 256, 292);
        t[16] = new("IQ2_XXS", 256, 66);
        t[17] = new("IQ2_XS", 256, 74);
        t[18] = new("IQ3_XXS", 256, 98);
        t[19] = new("IQ1_S", 256, 50);
        t[20] = new("IQ4_NL", 32, 18);
        t[21] = new("IQ3_S", 256, 110);
        t[22] = new("IQ2_S", 256, 82);
        t[23] = new("IQ4_XS", 256, 136);
        t[24] = new("I8", 1, 1);
        t[25] = new("I16", 1, 2);
        t[26] = new("I32", 1, 4);
        t[27] = new("I64", 1, 8);
        t[28] = new("F64", 1, 8);
        t[29] = new("IQ1_M", 256, 56);
        t[30] = new("BF16", 1, 2);
        t[34] = new("TQ1_0", 256, 54);
        t[35] = new("TQ2_0", 256, 66);
        t[39] = new("MXFP4", 32, 17);
        return t;
    }

    /// <summary>The layout of a type, or null for a number this table does not know.</summary>
    public static GgmlTypeLayout? Layout(uint type) => type < Table.Length ? Table[type] : null;

    /// <summary>Bytes a tensor of <paramref name="type"/> and <paramref name="dims"/> occupies; null for an unknown type.</summary>
    /// <exception cref="InvalidDataException">The row (<c>dims[0]</c>) is not a whole number of blocks.</exception>
    public static long? ByteLength(uint type, IReadOnlyList<long> dims)
    {
        if (Layout(type) is not { } layout) return null;
        var row = dims.Count == 0 ? 1 : dims[0];
        if (row % layout.BlockSize != 0)
            throw new InvalidDataException($"a row of {row} elements is not a whole number of {layout.Name} blocks of {layout.BlockSize}");
        var blocks = row / layout.BlockSize;
        for (var i = 1; i < dims.Count; i++) blocks = checked(blocks * dims[i]);
        return checked(blocks * layout.BlockBytes);
    }
}

/// <summary>
/// llama.cpp's names of <c>general.file_type</c> (<c>enum llama_ftype</c> in llama.h): the quantization a model file
/// is known by (<c>Q4_K_M</c>, <c>F16</c>…). The gaps are numbers llama.cpp retired.
/// </summary>
public static class LlamaFileTypes
{
    private static readonly Dictionary<long, string> Names = new()
    {
        [0] = "F32",
        [1] = "F16",
        [2] = "Q4_0",
        [3] = "Q4_1",
        [7] = "Q8_0",
        [8] = "Q5_0",
        [9] = "Q5_1",
        [10] = "Q2_K",
        [11] = "Q3_K_S",
        [12] = "Q3_K_M",
        [13] = "Q3_K_L",
        [14] = "Q4_K_S",
        [15] = "Q4_K_M",
        [16] = "Q5_K_S",
        [17] = "Q5_K_M",
        [18] = "Q6_K",
        [19] = "IQ2_XXS",
        [20] = "IQ2_XS",
        [21] = "Q2_K_S",
        [22] = "IQ3_XS",
        [23] = "IQ3_XXS",
        [24] = "IQ1_S",
        [25] = "IQ4_NL",
        [26] = "IQ3_S",
        [27] = "IQ3_M",
        [28] = "IQ2_S",
        [29] = "IQ2_M",
        [30] = "IQ4_XS",
        [31] = "IQ1_M",
        [32] = "BF16",
        [36] = "TQ1_0",
        [37] = "TQ2_0",
        [38] = "MXFP4_MOE",
    };

    /// <summary>The name of a <c>general.file_type</c> value, or null for one llama.cpp does not define.</summary>
    public static string? Name(long fileType) => Names.GetValueOrDefault(fileType);
}
