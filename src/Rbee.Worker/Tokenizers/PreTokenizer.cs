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
    private const string Bloom = " ?[^(\\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+";
    private const string CjkRanges = "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+";

    private static readonly string[] DefaultPatterns =
        ["[\\p{P}\\$\\+<=>\\^~\\|]+", Gpt2, "\\p{N}+", "[0-9][0-9][0-9]"];

    /// <summary>Every <c>tokenizer.ggml.pre</c> value <see cref="ForName"/> accepts.</summary>
    public static readonly string[] KnownNames =
    [
        "default", "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "dbrx", "smaug-bpe",
        "deepseek-llm", "deepseek-v3", "deepseek-coder", "falcon", "starcoder", "refact", "codeshell", "exaone", "minerva-7b",
        "command-r", "smollm", "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es", "jina-v2-de",
        "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "qwen2", "qwen2.5", "qwen-2.5", "deepseek-r1-qwen", "megrez",
        "stablelm2", "poro-chat", "bloom", "gpt3-finnish", "viking", "chatglm-bpe", "glm4", "tekken", "gpt-4o", "llama4",
    ];

    private readonly RegexSplitter[] _splitters;

    public string Name { get; }

    /// <summary>A piece that is already a whole token is emitted as is, without running merges (Llama 3, Tekken).</summary>
    public bool IgnoreMerges { get; }

    /// <summary>Whether BOS is added when the GGUF does not say (<c>tokenizer.ggml.add_bos_token</c> absent).</summary>
    public bool AddBosByDefault { get; }

    private PreTokenizer(string name, string[] patterns, bool ignoreMerges = false, bool addBos = false)
    {
        Name = name;
        _splitters = patterns.Select(p => new RegexSplitter(p)).ToArray();
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
            "default" => new(n, DefaultPatterns),
            "llama3" or "llama-v3" or "llama-bpe" or "falcon3" or "falcon-h1" or "pixtral" or "midm-2.0" or "lfm2"
                => new(n, [Llama3], ignoreMerges: true, addBos: true),
            "dbrx" or "smaug-bpe" or "chatglm-bpe" or "glm4" => new(n, [Llama3]),
            "deepseek-llm" => new(n,
            [
                "[\r\n]",
                "\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A\U00010400-\U0001044F\U000104B0-\U000104D3\U000104D8-\U000104FB\U00010C80-\U00010CB2\U00010CC0-\U00010CF2\U000118A0-\U000118DF\U0001E900-\U0001E943]+",
                "\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+",
                "\\s+$",
                CjkRanges,
                "\\p{N}+",
            ]),
            "deepseek-v3" => new(n,
            [
                "\\p{N}{1,3}",
                "[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+",
                "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
            ]),
            "deepseek-coder" => new(n, ["[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", CjkRanges, "\\p{N}"]),
            "falcon" => new(n, ["[\\p{P}\\$\\+<=>\\^~\\|`]+", Gpt2, "[0-9][0-9][0-9]"]),
            "starcoder" or "refact" or "codeshell" or "exaone" or "minerva-7b" or "command-r" or "smollm"
                => new(n, ["\\p{N}", Gpt2]),
            "gpt-2" or "phi-2" or "jina-es" or "jina-de" or "gigachat" or "jina-v1-en" or "jina-v2-es" or "jina-v2-de"
                or "jina-v2-code" or "roberta-bpe" or "mpt" or "olmo" or "jais"
                => new(n, [Gpt2]),
            "qwen2" or "qwen2.5" or "qwen-2.5" or "deepseek-r1-qwen" or "megrez" or "stablelm2" => new(n, [Qwen2]),
            "poro-chat" or "bloom" or "gpt3-finnish" => new(n, [Bloom]),
            "viking" => new(n, [Bloom, "\\p{N}"]),
            "tekken" => new(n,
            [
                "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ], ignoreMerges: true, addBos: true),
            "gpt-4o" or "llama4" => new(n,
            [
                "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" + Contractions + "?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" + Contractions + "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ]),
            _ => throw new NotSupportedException(
                $"pre-tokenizer '{n}' (tokenizer.ggml.pre) is not supported; supported: {string.Join(", ", KnownNames)}"),
        };
    }

    /// <summary>
    /// Splits text into pieces and returns each as its byte-level string (one char per UTF-8 byte), ready for merges.
    /// </summary>
    public List<string> Split(string text)
    {
        var cps = UnicodeClass.CodePoints(text);
        if (cps.Length == 0) return [];
        var fragments = new List<int> { cps.Length };
        // Collapsed text is the same for every pattern that uses it; build it once.
        string? collapsed = null;
        foreach (var s in _splitters)
        {
            var prepared = s.Collapsed ? collapsed ??= s.Prepare(cps) : s.Prepare(cps);
            fragments = s.Split(prepared, fragments);
        }
        var words = new List<string>(fragments.Count);
        var start = 0;
        Span<byte> utf8 = stackalloc byte[4];
        var word = new StringBuilder();
        foreach (var len in fragments)
        {
            word.Clear();
            for (var i = start; i < start + len; i++)
            {
                var n = new Rune(cps[i]).EncodeToUtf8(utf8);
                for (var k = 0; k < n; k++) word.Append(ByteLevel.Encode(utf8[k]));
            }
            words.Add(word.ToString());
            start += len;
        }
        return words;
    }
}
