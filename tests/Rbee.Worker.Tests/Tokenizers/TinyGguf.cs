using Rbee.Testing.Gguf;
using Rbee.Worker.Gguf;
using Rbee.Worker.Tokenizers;

namespace Rbee.Worker.Tests.Tokenizers;

/// <summary>Tokenizers read from tensor-less GGUF files that hold only the metadata a test gives.</summary>
internal static class TinyGguf
{
    /// <summary>Writes <paramref name="metadata"/> to a temp file, reads its tokenizer, and deletes the file.</summary>
    public static Tokenizer LoadTokenizer(GgufWriter metadata)
    {
        var path = Path.Combine(Path.GetTempPath(), $"tok-{Guid.NewGuid():N}.gguf");
        metadata.Write(path);
        try
        {
            using var file = GgufFile.Open(path);
            return Tokenizer.FromGguf(file);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
