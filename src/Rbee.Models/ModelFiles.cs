using Rbee.Contracts.Wire;
using Rbee.Models.Gguf;

namespace Rbee.Models;

/// <summary>
/// What a GGUF model file is, from its header alone (DESIGN.md "Scheduling and routing": what <c>/v1/models</c> shows and
/// what a memory estimate needs). The id is the file name without <c>.gguf</c>: the one id of the model everywhere.
/// </summary>
public static class ModelFiles
{
    public const string Extension = ".gguf";

    /// <summary>The model id of a file: its name without <c>.gguf</c> (any other extension is kept).</summary>
    public static string IdOf(string path)
    {
        var name = System.IO.Path.GetFileName(path);
        return name.EndsWith(Extension, StringComparison.OrdinalIgnoreCase) && name.Length > Extension.Length ? name[..^Extension.Length] : name;
    }

    /// <summary>Reads the header of <paramref name="path"/> and describes the model.</summary>
    /// <exception cref="IncompleteModelFileException">The file ends before its header or its last tensor does (being copied).</exception>
    /// <exception cref="InvalidDataException">The file is not a GGUF file this reader accepts (the message names the offset).</exception>
    public static ModelInfo Describe(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        var header = GgufHeader.Read(full);
        if (header.FileLength < header.RequiredLength)
            throw new IncompleteModelFileException(
                $"{full}: its tensors end at byte {header.RequiredLength} but the file has {header.FileLength} bytes (truncated, or still being copied)");
        return Describe(header, IdOf(full), LastWriteTimeUtc(full));
    }

    /// <summary>The file's mtime; for a symbolic link, its target's (FileInfo on Unix describes the link itself).</summary>
    public static DateTime LastWriteTimeUtc(string path)
    {
        var info = new FileInfo(path);
        if (info.Attributes.HasFlag(FileAttributes.ReparsePoint) && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo { Exists: true } target)
            return target.LastWriteTimeUtc;
        return info.LastWriteTimeUtc;
    }

    /// <summary>The description of an already read header.</summary>
    public static ModelInfo Describe(GgufHeader header, string id, DateTime modifiedUtc)
    {
        var arch = header.Get("general.architecture")?.AsString();
        int? ArchInt(string suffix) => arch is null ? null : Int(header, $"{arch}.{suffix}");

        var embedding = ArchInt("embedding_length");
        var heads = ArchInt("attention.head_count");
        // Only an absent key means "as many as the query heads": a per-layer array (some models have one) is not known here.
        var kvHeads = ArchInt("attention.head_count_kv")
            ?? (arch is not null && header.Arrays.ContainsKey($"{arch}.attention.head_count_kv") ? null : heads);
        var headDim = ArchInt("attention.key_length") ?? (embedding is { } e && heads is > 0 ? e / heads : null);

        return new ModelInfo
        {
            Id = id,
            Path = header.Path,
            SizeBytes = header.FileLength,
            ModifiedAt = new DateTimeOffset(DateTime.SpecifyKind(modifiedUtc, DateTimeKind.Utc)),
            Architecture = arch,
            Name = header.Get("general.name")?.AsString(),
            ParameterCount = header.Tensors.Sum(t => t.ElementCount),
            Quantization = Quantization(header),
            ContextLength = ArchInt("context_length"),
            BlockCount = ArchInt("block_count"),
            EmbeddingLength = embedding,
            HeadCount = heads,
            HeadCountKv = kvHeads,
            HeadDim = headDim,
            FeedForwardLength = ArchInt("feed_forward_length"),
            WeightsBytes = Math.Max(0, header.FileLength - header.DataOffset),
        };
    }

    /// <summary>llama.cpp's name of <c>general.file_type</c>; else the type most 2-D tensors (the weight matrices) have.</summary>
    public static string? Quantization(GgufHeader header)
    {
        if (header.Get("general.file_type")?.AsInt64() is { } fileType && LlamaFileTypes.Name(fileType) is { } name) return name;
        var common = header.Tensors.Where(t => t.Dims.Count == 2)
            .GroupBy(t => t.Type)
            .OrderByDescending(g => g.Count()).ThenByDescending(g => g.Sum(t => t.ElementCount)).ThenBy(g => g.Key)
            .FirstOrDefault();
        return common is null ? null : GgmlTypes.Layout(common.Key)?.Name;
    }

    private static int? Int(GgufHeader header, string key) =>
        header.Get(key)?.AsInt64() is { } v && v is >= 0 and <= int.MaxValue ? (int)v : null;
}
