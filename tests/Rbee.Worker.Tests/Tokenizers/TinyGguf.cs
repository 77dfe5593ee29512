using System.Text;

namespace Rbee.Worker.Tests.Tokenizers;

/// <summary>Writes a tensor-less GGUF v3 file holding only the given metadata, in a temp file the caller deletes.</summary>
internal static class TinyGguf
{
    public static string Write(params (string Key, object Value)[] metadata)
    {
        var path = Path.Combine(Path.GetTempPath(), $"tok-{Guid.NewGuid():N}.gguf");
        using var w = new BinaryWriter(File.Create(path));
        w.Write(0x46554747u);
        w.Write(3u);
        w.Write(0L);
        w.Write((long)metadata.Length);
        foreach (var (key, value) in metadata)
        {
            Str(w, key);
            switch (value)
            {
                case string s:
                    w.Write(8u);
                    Str(w, s);
                    break;
                case int i:
                    w.Write(5u);
                    w.Write(i);
                    break;
                case bool b:
                    w.Write(7u);
                    w.Write((byte)(b ? 1 : 0));
                    break;
                case string[] a:
                    w.Write(9u);
                    w.Write(8u);
                    w.Write((long)a.Length);
                    foreach (var s in a) Str(w, s);
                    break;
                case int[] a:
                    w.Write(9u);
                    w.Write(5u);
                    w.Write((long)a.Length);
                    foreach (var v in a) w.Write(v);
                    break;
                case float[] a:
                    w.Write(9u);
                    w.Write(6u);
                    w.Write((long)a.Length);
                    foreach (var v in a) w.Write(v);
                    break;
                default:
                    throw new ArgumentException($"unsupported metadata value {value.GetType()}");
            }
        }
        return path;
    }

    private static void Str(BinaryWriter w, string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        w.Write((long)b.Length);
        w.Write(b);
    }
}
