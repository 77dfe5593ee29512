using System.Text;

namespace Rbee.Worker.Tokenizers;

/// <summary>
/// The pre-tokenizer of a byte-level BPE vocabulary, chosen by <c>tokenizer.ggml.pre</c>: an ordered list of
/// patterns (each splits the pieces the previous one left), and the flags llama.cpp ties to the same name.
/// Patterns are llama.cpp's (<c>llm_tokenizer_bpe</c>), which adapt each model's <c>tokenizer.json</c> regex to
/// what <c>std::regex</c> can run; case-insensitive contractions are spelled out (<c>'[sS]</c>), as llama.cpp does.
/// </summary>
internal sealed class PreTokenizer
{
    private const string Gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
    private const string Contractions = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
    private const string Llama3 = Contractions + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private const string Qwen2 = Contractions + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private const string CjkRanges = "[一-龥ࠀ-一가-퟿]+";

    private static readonly string[] DefaultPatterns =
        ["[\\p{P}\\$\\+<=>\\^~\\|]+", Gpt2, "\\p{N}+", "[0-9][0-9][0-9]"];

    private readonly RegexSplitter[] _splitters;

    public string Name { get; }

    /// <summary>llama.cpp's <c>clean_spaces</c> for this name (HF's clean_up_tokenization_spaces); informational.</summary>
    public bool CleanSpaces { get; }

    /// <summary>A piece that is already a whole token is emitted as is, without running merges (Llama 3, Tekken).</summary>
    public bool IgnoreMerges { get; }

    /// <summary>Whether BOS is added when the GGUF does not say (<c>tokenizer.ggml.add_bos_token</c> absent).</summary>
    public bool AddBosByDefault { get; }

    private PreTokenizer(string name, string[] patterns, bool cleanSpaces, bool ignoreMerges = false, bool addBos = false)
    {
        Name = name;
        _splitters = patterns.Select(p => new RegexSplitter(p)).ToArray();
        CleanSpaces = cleanSpaces;
        IgnoreMerges = ignoreMerges;
        AddBosByDefault = addBos;
    }

    /// <summary>The pre-tokenizer llama.cpp uses for <paramref name="name"/>; unknown names are refused naming them.</summary>
    public static PreTokenizer ForName(string? name)
    {
        // llama.cpp warns and falls back to 'default' when the key is missing (old conversions).
        var n = string.IsNullOrEmpty(name) ? "default" : name;
        return n switch
        {
            "default" => new(n, DefaultPatterns, cleanSpaces: true),
            "llama3" or "llama-v3" or "llama-bpe" or "falcon3" or "falcon-h1" or "pixtral" or "midm-2.0" or "lfm2"
                => new(n, [Llama3], cleanSpaces: true, ignoreMerges: true, addBos: true),
            "dbrx" or "smaug-bpe" => new(n, [Llama3], cleanSpaces: true),
            "deepseek-llm" => new(n,
            [
                "[\r\n]",
                "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
                "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
                "\\s+$",
                CjkRanges,
                "\\p{N}+",
            ], cleanSpaces: false),
            "deepseek-v3" => new(n,
            [
                "\\p{N}{1,3}",
                "[一-龥぀-ゟ゠-ヿ]+",
                "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
            ], cleanSpaces: false),
            "deepseek-coder" => new(n, ["[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", CjkRanges, "\\p{N}"], cleanSpaces: false),
            "falcon" => new(n, ["[\\p{P}\\$\\+<=>\\^~\\|`]+", Gpt2, "[0-9][0-9][0-9]"], cleanSpaces: true),
            "starcoder" or "refact" or "codeshell" or "exaone" or "minerva-7b" => new(n, ["\\p{N}", Gpt2], cleanSpaces: true),
            "command-r" or "smollm" => new(n, ["\\p{N}", Gpt2], cleanSpaces: false),
            "gpt-2" or "phi-2" or "jina-es" or "jina-de" or "gigachat" or "jina-v1-en" or "jina-v2-es" or "jina-v2-de"
                or "jina-v2-code" or "roberta-bpe" or "mpt" or "olmo" or "jais"
                => new(n, [Gpt2], cleanSpaces: true),
            "qwen2" or "qwen2.5" or "qwen-2.5" or "deepseek-r1-qwen" or "megrez" => new(n, [Qwen2], cleanSpaces: false),
            "stablelm2" => new(n, [Qwen2], cleanSpaces: true),
            "poro-chat" => new(n, [" ?[^(\\s|.,!?…。，、।۔،)]+"], cleanSpaces: false),
            "bloom" or "gpt3-finnish" => new(n, [" ?[^(\\s|.,!?…。，、।۔،)]+"], cleanSpaces: true),
            "viking" => new(n, [" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"], cleanSpaces: false),
            "chatglm-bpe" or "glm4" => new(n, [Llama3], cleanSpaces: true),
            "tekken" => new(n,
            [
                "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ], cleanSpaces: false, ignoreMerges: true, addBos: true),
            "gpt-4o" or "llama4" => new(n,
            [
                "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" + Contractions + "?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" + Contractions + "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ], cleanSpaces: false),
            _ => throw new NotSupportedException(
                $"pre-tokenizer '{n}' (tokenizer.ggml.pre) is not supported; supported: default, gpt-2, llama3, llama-bpe, qwen2, " +
                "deepseek-llm, deepseek-coder, deepseek-v3, falcon, starcoder, refact, command-r, gpt-4o, mpt, olmo, tekken, ..."),
        };
    }

    /// <summary>
    /// Splits text into pieces and returns each as its byte-level string (one char per UTF-8 byte), ready for merges.
    /// </summary>
    public List<string> Split(string text)
    {
        var cps = UnicodeClass.CodePoints(text);
        var fragments = new List<int> { cps.Length };
        if (cps.Length == 0) return [];
        foreach (var s in _splitters)
        {
            fragments = s.Split(s.Prepare(cps), fragments);
        }
        var words = new List<string>(fragments.Count);
        var start = 0;
        Span<byte> buf = stackalloc byte[4];
        var bytes = new List<byte>();
        foreach (var len in fragments)
        {
            bytes.Clear();
            for (var i = start; i < start + len; i++)
            {
                var n = new Rune(cps[i]).EncodeToUtf8(buf);
                for (var k = 0; k < n; k++) bytes.Add(buf[k]);
            }
            words.Add(ByteLevel.Encode(bytes.ToArray()));
            start += len;
        }
        return words;
    }
}
