using System.Globalization;

namespace Rbee.Worker.Tokenizers;

/// <summary>
/// Code point classes as llama.cpp's pre-tokenizer sees them: letter, number, punctuation, symbol, accent mark,
/// whitespace, other. Categories come from .NET's Unicode tables; the whitespace set is llama.cpp's own
/// (it includes U+0085 and every Z-category code point, which is also what .NET's <c>char.IsWhiteSpace</c> holds
/// above ASCII).
/// </summary>
internal static class UnicodeClass
{
    public static bool IsWhitespace(int cp) => cp switch
    {
        >= 0x09 and <= 0x0D => true,
        0x20 or 0x85 or 0xA0 or 0x1680 => true,
        >= 0x2000 and <= 0x200A => true,
        0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        _ => false,
    };

    public static UnicodeCategory Category(int cp) =>
        cp is >= 0 and <= 0x10FFFF ? CharUnicodeInfo.GetUnicodeCategory(cp) : UnicodeCategory.OtherNotAssigned;

    public static bool IsLetter(int cp) => Category(cp) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
        or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter;

    public static bool IsNumber(int cp) => Category(cp) is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber
        or UnicodeCategory.OtherNumber;

    public static bool IsPunctuation(int cp) => Category(cp) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
        or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
        or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;

    public static bool IsSymbol(int cp) => Category(cp) is UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol
        or UnicodeCategory.ModifierSymbol or UnicodeCategory.OtherSymbol;

    public static bool IsMark(int cp) => Category(cp) is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark
        or UnicodeCategory.EnclosingMark;

    /// <summary>
    /// Code points of a string. Unpaired surrogates become U+FFFD, exactly what the UTF-8 bytes llama.cpp works on
    /// would hold for them.
    /// </summary>
    public static int[] CodePoints(ReadOnlySpan<char> text)
    {
        var result = new int[text.Length];
        var n = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                result[n++] = char.ConvertToUtf32(c, text[i + 1]);
                i++;
            }
            else
            {
                result[n++] = char.IsSurrogate(c) ? 0xFFFD : c;
            }
        }
        return n == result.Length ? result : result[..n];
    }
}
