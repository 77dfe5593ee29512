using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rbee.Models.Downloads;

/// <summary>
/// What a download knows about the file it put in a models directory, kept beside it so the catalog can list the
/// model's origin and sha256 without reading the file: <c>&lt;models dir&gt;/.rbee/&lt;file name&gt;.json</c>. A record is
/// believed only while the file still has the size and mtime it recorded; a file replaced by hand loses it.
/// </summary>
public sealed record ModelProvenance
{
    /// <summary>The hidden directory of a models directory that holds the records (a hidden name is never listed).</summary>
    public const string DirectoryName = ".rbee";

    /// <summary>The source the download was given: <c>org/repo:file.gguf</c>, a URL.</summary>
    public required string Origin { get; init; }

    /// <summary>The URL the bytes came from (after resolving a quantisation to a file).</summary>
    public string? Url { get; init; }

    public required string Sha256 { get; init; }

    public required long Size { get; init; }

    /// <summary>The file's mtime (UTC ticks) when the record was written.</summary>
    public required long MtimeTicks { get; init; }

    public DateTimeOffset DownloadedAt { get; init; }

    /// <summary>Where the record of <paramref name="modelPath"/> lives.</summary>
    public static string PathFor(string modelPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, DirectoryName, Path.GetFileName(modelPath) + ".json");

    /// <summary>The record of <paramref name="modelPath"/> when there is one that still matches the file's size and mtime; else null.</summary>
    public static ModelProvenance? Read(string modelPath, long size, long mtimeTicks)
    {
        try
        {
            var record = JsonSerializer.Deserialize(File.ReadAllBytes(PathFor(modelPath)), ProvenanceJson.Default.ModelProvenance);
            return record is not null && record.Size == size && record.MtimeTicks == mtimeTicks ? record : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    /// <summary>Writes the record of <paramref name="modelPath"/> (through a temporary file, renamed into place).</summary>
    public static void Write(string modelPath, ModelProvenance record)
    {
        var path = PathFor(modelPath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(record, ProvenanceJson.Default.ModelProvenance));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Removes the record of <paramref name="modelPath"/>, if any.</summary>
    public static void Delete(string modelPath)
    {
        try { File.Delete(PathFor(modelPath)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(ModelProvenance))]
internal sealed partial class ProvenanceJson : JsonSerializerContext;
