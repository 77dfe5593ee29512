using System.Text;
using System.Text.RegularExpressions;

namespace Rbee.Worker.Tokenizers;

/// <summary>
/// One pre-tokenizer pattern, applied the way llama.cpp's <c>unicode_regex_split</c> applies it: to each
/// fragment left by the previous pattern on its own (a lookahead never sees past the fragment's end), keeping
/// both the matches and the unmatched gaps as pieces.
/// <para>
/// llama.cpp runs <c>std::regex</c> over a "collapsed" text when the pattern names a Unicode category: every
/// non-ASCII code point becomes one byte standing for its class (letter, number, punctuation, mark, symbol,
/// other; non-ASCII whitespace becomes \v), and <c>\p{L}</c> etc. become a class of that byte plus the ASCII
/// members. We do the same with .NET's ECMAScript mode (whose <c>\s</c> is ASCII-only like the C locale's), so
/// quirks carry over: for instance ASCII '~' is in no category, because llama.cpp's ASCII symbol set leaves it out.
/// Patterns without a category run over the code points directly, with non-ASCII whitespace also as \v.
/// llama.cpp's hand-written splitters for the GPT-2 and Llama 3 patterns implement exactly these regexes, so
/// the regex form gives the same pieces.
/// </para>
/// </summary>
internal sealed class RegexSplitter
{
    // Stand-ins for non-ASCII code points in the collapsed text (llama.cpp uses the bytes 0xD0..0xD5).
    private const char Other = '\u00D0';
    private const char Number = '\u00D1';
    private const char Letter = '\u00D2';
    private const char Punctuation = '\u00D3';
    private const char Mark = '\u00D4';
    private const char Symbol = '\u00D5';

    // In the direct (uncollapsed) text, a code point above U+FFFF is one char too: SupplementaryInPattern when
    // it falls in a supplementary range the pattern names, SupplementaryOther otherwise.
    private const char SupplementaryInPattern = '\uFFFE';
    private const char SupplementaryOther = '\uFFFF';

    private static readonly (string Name, char Stand, string Ascii)[] Categories =
    [
        ("\\p{N}", Number, "0-9"),
        ("\\p{L}", Letter, "A-Za-z"),
        ("\\p{P}", Punctuation, "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}"),
        ("\\p{M}", Mark, ""),
        ("\\p{S}", Symbol, "\\$\\+<->\\^`\\|"),
    ];

    private readonly Regex _regex;
    private readonly List<(int From, int To)> _supplementaryRanges = [];

    public string Pattern { get; }
    public bool Collapsed { get; }

    public RegexSplitter(string pattern)
    {
        Pattern = pattern;
        Collapsed = Categories.Any(c => pattern.Contains(c.Name, StringComparison.Ordinal));
        var translated = Collapsed ? TranslateCollapsed(pattern) : TranslateDirect(pattern, _supplementaryRanges);
        _regex = new Regex(translated, RegexOptions.ECMAScript);
    }

    /// <summary>The one-char-per-code-point text this pattern runs over.</summary>
    public string Prepare(ReadOnlySpan<int> cps)
    {
        var sb = new StringBuilder(cps.Length);
        foreach (var cp in cps) sb.Append(Collapsed ? CollapseChar(cp) : DirectChar(cp));
        return sb.ToString();
    }

    /// <summary>Splits each fragment (given as lengths in code points) of <paramref name="text"/> further.</summary>
    public List<int> Split(string text, List<int> fragments)
    {
        var result = new List<int>(fragments.Count * 2);
        var start = 0;
        foreach (var length in fragments)
        {
            // The span ends where the fragment does, so a lookahead cannot see past it (and nothing is copied).
            var at = 0;
            foreach (var m in _regex.EnumerateMatches(text.AsSpan(start, length)))
            {
                if (m.Length == 0) continue;
                if (m.Index > at) result.Add(m.Index - at);
                result.Add(m.Length);
                at = m.Index + m.Length;
            }
            if (at < length) result.Add(length - at);
            start += length;
        }
        return result;
    }

    private static char CollapseChar(int cp)
    {
        if (cp < 128) return (char)cp;
        if (UnicodeClass.IsWhitespace(cp)) return '\v';
        if (UnicodeClass.IsNumber(cp)) return Number;
        if (UnicodeClass.IsLetter(cp)) return Letter;
        if (UnicodeClass.IsPunctuation(cp)) return Punctuation;
        if (UnicodeClass.IsMark(cp)) return Mark;
        if (UnicodeClass.IsSymbol(cp)) return Symbol;
        return Other;
    }

    private char DirectChar(int cp)
    {
        if (cp > 0x7F && UnicodeClass.IsWhitespace(cp)) return '\v';
        if (cp <= 0xFFFF) return cp is SupplementaryInPattern or SupplementaryOther ? SupplementaryOther : (char)cp;
        foreach (var (from, to) in _supplementaryRanges)
        {
            if (cp >= from && cp <= to) return SupplementaryInPattern;
        }
        return SupplementaryOther;
    }

    /// <summary>llama.cpp's collapse of a pattern: each <c>\p{X}</c> becomes its stand-in plus its ASCII members.</summary>
    private static string TranslateCollapsed(string pattern)
    {
        foreach (var rune in pattern.EnumerateRunes())
        {
            if (rune.Value >= 128)
                throw new NotSupportedException($"pre-tokenizer pattern mixes Unicode categories and non-ASCII characters: {pattern}");
        }
        var sb = new StringBuilder();
        var inside = false;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '[' && (i == 0 || pattern[i - 1] != '\\'))
            {
                sb.Append('[');
                inside = true;
                continue;
            }
            if (inside && c == ']' && pattern[i - 1] != '\\')
            {
                sb.Append(']');
                inside = false;
                continue;
            }
            if (c == '\\' && i + 4 < pattern.Length && pattern[i + 1] == 'p' && pattern[i + 2] == '{' && pattern[i + 4] == '}')
            {
                var name = pattern.Substring(i, 5);
                var cat = Array.FindIndex(Categories, x => x.Name == name);
                if (cat >= 0)
                {
                    if (!inside) sb.Append('[');
                    sb.Append(Categories[cat].Stand).Append(Categories[cat].Ascii);
                    if (!inside) sb.Append(']');
                    i += 4;
                    continue;
                }
            }
            sb.Append(c);
        }
        return EndAnchorToAbsolute(sb.ToString());
    }

    /// <summary>
    /// A pattern without categories runs as written, except that ranges of supplementary code points (which
    /// .NET would see as surrogate pairs) become one stand-in char that the text uses for them.
    /// </summary>
    private static string TranslateDirect(string pattern, List<(int From, int To)> ranges)
    {
        var sb = new StringBuilder();
        var runes = pattern.EnumerateRunes().ToArray();
        for (var i = 0; i < runes.Length; i++)
        {
            var r = runes[i];
            if (r.Value <= 0xFFFF)
            {
                sb.Append((char)r.Value);
                continue;
            }
            var to = r.Value;
            if (i + 2 < runes.Length && runes[i + 1].Value == '-' && runes[i + 2].Value > 0xFFFF)
            {
                to = runes[i + 2].Value;
                i += 2;
            }
            ranges.Add((r.Value, to));
            sb.Append(SupplementaryInPattern);
        }
        return EndAnchorToAbsolute(sb.ToString());
    }

    // std::regex's '$' (no multiline) matches only at the very end; .NET's also matches before a final '\n'.
    private static string EndAnchorToAbsolute(string pattern) =>
        pattern.EndsWith('$') && !pattern.EndsWith("\\$", StringComparison.Ordinal) ? pattern[..^1] + "(?!(?:.|\\n))" : pattern;

    public override string ToString() => Pattern;
}
