namespace Rbee.Worker.Tokenizers;

/// <summary>
/// GPT-2's byte-level alphabet: every byte maps to one printable code point, so a byte-level BPE vocabulary is
/// a set of strings over 256 characters. Printable Latin-1 bytes map to themselves; the other 68 bytes map to
/// U+0100 upwards in byte order (space becomes 'Ġ', newline 'Ċ').
/// </summary>
internal static class ByteLevel
{
    private static readonly char[] ByteToChar = BuildByteToChar();
    private static readonly Dictionary<char, byte> CharToByte = BuildCharToByte();

    public static char Encode(byte b) => ByteToChar[b];

    public static bool TryDecode(char c, out byte b) => CharToByte.TryGetValue(c, out b);

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var assigned = new bool[256];
        void Keep(int from, int to)
        {
            for (var b = from; b <= to; b++)
            {
                map[b] = (char)b;
                assigned[b] = true;
            }
        }
        Keep('!', '~');
        Keep(0xA1, 0xAC);
        Keep(0xAE, 0xFF);
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            if (!assigned[b]) map[b] = (char)next++;
        }
        return map;
    }

    private static Dictionary<char, byte> BuildCharToByte()
    {
        var d = new Dictionary<char, byte>(256);
        for (var b = 0; b < 256; b++) d[ByteToChar[b]] = (byte)b;
        return d;
    }
}
