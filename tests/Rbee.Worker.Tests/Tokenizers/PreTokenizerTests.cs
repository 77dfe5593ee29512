using System.Text;
using Rbee.Worker.Tokenizers;

namespace Rbee.Worker.Tests.Tokenizers;

/// <summary>
/// Pre-tokenizer splits for families whose vocabularies are not in <c>models/vocab/</c> (Llama 3, Qwen2), checked
/// against what their <c>tokenizer.json</c> regexes give, including the cases llama.cpp's adaptation must keep.
/// </summary>
public class PreTokenizerTests
{
    private static string[] Split(string pre, string text) =>
        PreTokenizer.ForName(pre).Split(text).Select(Unbyte).ToArray();

    private static string Unbyte(string byteLevel)
    {
        var bytes = byteLevel.Select(c => ByteLevel.TryDecode(c, out var b) ? b : throw new InvalidDataException($"'{c}' is not byte-level")).ToArray();
        return Encoding.UTF8.GetString(bytes);
    }

    [Fact]
    public void Llama3_NumbersGoInThrees_ContractionsIgnoreCase_NewlinesGroup()
    {
        Assert.Equal(["Hello", " world", " ", "123", "45", " I", "'M", " here", "'s", "\n\n", " ", " x"],
            Split("llama3", "Hello world 12345 I'M here's\n\n  x"));
        Assert.Equal(["héllo", " wörld", " 我想在apple工作", "131", "415", "1", "天", "～"],
            Split("llama-bpe", "héllo wörld 我想在apple工作1314151天～"));
        Assert.Equal(["x", " =", " (", "a", " +", " b", ");\n", "\treturn"], Split("llama3", "x = (a + b);\n\treturn"));
    }

    [Fact]
    public void Qwen2_SplitsEveryDigit()
    {
        Assert.Equal(["Hello", " ", "1", "2", "3", "4", " I", "'M", "\n"], Split("qwen2", "Hello 1234 I'M\n"));
    }

    [Fact]
    public void Gpt2_ContractionsAreCaseSensitive_AndSpacesBeforeWordsStay()
    {
        Assert.Equal(["I", "'", "M", " I", "'m", "  ", " x"], Split("gpt-2", "I'M I'm   x"));
    }

    [Fact]
    public void NonAsciiWhitespace_IsWhitespaceInEveryFamily()
    {
        // U+00A0 and U+3000 are whitespace to llama.cpp, so they neither join words nor count as punctuation.
        Assert.Equal(["a", "\u00A0", "b"], Split("gpt-2", "a\u00A0b"));
        Assert.Equal(["a", "\u3000b"], Split("llama3", "a\u3000b"));
    }

    public static TheoryData<string> KnownNames() => new(PreTokenizer.KnownNames);

    [Theory]
    [MemberData(nameof(KnownNames))]
    public void EveryKnownFamily_SplitsWithoutLosingText(string pre)
    {
        const string text = "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～ 𐐀𐐁 x\r\n\n  \tend ~$+=";
        var pieces = Split(pre, text);
        Assert.Equal(text, string.Concat(pieces));
        Assert.True(pieces.Length > 5, string.Join("|", pieces));
    }
}
