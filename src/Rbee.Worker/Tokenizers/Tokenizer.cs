using System.Collections.Frozen;
using System.Text;
using Rbee.Worker.Gguf;

namespace Rbee.Worker.Tokenizers;

/// <summary>
/// A model's tokenizer, read from GGUF metadata (<c>tokenizer.ggml.*</c>), producing the token ids llama.cpp
/// produces. Two kinds: SentencePiece-style (<c>llama</c>: scores, byte fallback, dummy space prefix) and
/// byte-level BPE (<c>gpt2</c>: ranked merges after a per-family pre-tokenizer). Special tokens found in the
/// text are split off first, as llama.cpp's <c>tokenizer_st_partition</c> does. Immutable and thread-safe.
/// </summary>
public abstract class Tokenizer
{
    private readonly string[] _texts;
    private readonly TokenAttributes[] _attrs;
    private readonly byte[][] _pieces;
    private readonly int[] _specialTokens; // control, user-defined and unknown ids, longest text first

    /// <summary>Token text to id; where a text repeats, the last id wins (as in llama.cpp's token_to_id).</summary>
    protected Dictionary<string, int> TokenIds { get; }

    protected Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> TokenIdsBySpan { get; }

    public int VocabSize => _texts.Length;
    public int? BosId { get; }
    public int? EosId { get; }
    public int? EotId { get; }
    public int? EomId { get; }
    public int? UnknownId { get; }
    public int? PaddingId { get; }
    public bool AddBos { get; }
    public bool AddEos { get; }

    /// <summary>SentencePiece dummy prefix: a space is put before the text (and stripped again when decoding).</summary>
    public bool AddSpacePrefix { get; }

    /// <summary>Ids that end generation: EOS, EOT, EOM and the known end markers (<c>&lt;|eot_id|&gt;</c>, <c>&lt;|im_end|&gt;</c>, …).</summary>
    public IReadOnlySet<int> EndOfGenerationIds { get; }

    /// <summary><c>tokenizer.ggml.model</c>: <c>llama</c> or <c>gpt2</c>.</summary>
    public abstract string Model { get; }

    private protected Tokenizer(TokenizerData data, bool addSpacePrefix, bool defaultAddBos)
    {
        _texts = data.Texts;
        _attrs = data.Attributes;
        TokenIds = new Dictionary<string, int>(_texts.Length, StringComparer.Ordinal);
        for (var i = 0; i < _texts.Length; i++) TokenIds[_texts[i]] = i;
        TokenIdsBySpan = TokenIds.GetAlternateLookup<ReadOnlySpan<char>>();

        BosId = data.Id("bos_token_id", data.DefaultBos);
        EosId = data.Id("eos_token_id", data.DefaultEos);
        EotId = data.Id("eot_token_id", null);
        EomId = data.Id("eom_token_id", null);
        UnknownId = data.Id("unknown_token_id", data.DefaultUnknown);
        PaddingId = data.Id("padding_token_id", null);
        AddBos = data.File.GetBool("tokenizer.ggml.add_bos_token") ?? defaultAddBos;
        AddEos = data.File.GetBool("tokenizer.ggml.add_eos_token") ?? false;
        AddSpacePrefix = data.File.GetBool("tokenizer.ggml.add_space_prefix") ?? addSpacePrefix;
        if (AddBos && BosId is null) throw new InvalidDataException($"{data.File.Path}: add_bos_token is set but there is no bos_token_id");
        if (AddEos && EosId is null) throw new InvalidDataException($"{data.File.Path}: add_eos_token is set but there is no eos_token_id");

        EndOfGenerationIds = FindEndOfGeneration().ToFrozenSet();
        ApplyNameAttributes(data.File.GetString("general.name"));

        _specialTokens = Enumerable.Range(0, _texts.Length)
            .Where(id => (_attrs[id] & (TokenAttributes.Control | TokenAttributes.UserDefined | TokenAttributes.Unknown)) != 0)
            .OrderByDescending(id => Encoding.UTF8.GetByteCount(_texts[id]))
            .ThenBy(id => id)
            .ToArray();
        _pieces = new byte[_texts.Length][];
    }

    /// <summary>Reads the tokenizer of a GGUF file; an unsupported model or pre-tokenizer is refused naming it.</summary>
    public static Tokenizer FromGguf(GgufFile file)
    {
        var model = file.GetString("tokenizer.ggml.model")
            ?? throw new InvalidDataException($"{file.Path}: tokenizer.ggml.model is missing; the file holds no tokenizer");
        return model switch
        {
            "llama" => new SentencePieceTokenizer(TokenizerData.Read(file, model)),
            "gpt2" => new BytePairTokenizer(TokenizerData.Read(file, model)),
            _ => throw new NotSupportedException(
                $"{file.Path}: tokenizer model '{model}' (tokenizer.ggml.model) is not supported; supported: llama (SentencePiece), gpt2 (byte-level BPE)"),
        };
    }

    public TokenAttributes Attributes(int id) => _attrs[CheckId(id)];

    /// <summary>The token's text as stored in the vocabulary (SPM '▁', byte-level 'Ġ', '&lt;0x0A&gt;' as is).</summary>
    public string TokenText(int id) => _texts[CheckId(id)];

    /// <summary>
    /// The raw bytes a token stands for: SPM '▁' → space, byte tokens → that byte, byte-level BPE characters →
    /// their bytes; control, unknown and user-defined tokens → their text. Unused tokens → nothing.
    /// </summary>
    public ReadOnlySpan<byte> TokenBytes(int id)
    {
        CheckId(id);
        var p = Volatile.Read(ref _pieces[id]);
        if (p is null)
        {
            p = BuildPiece(id);
            Volatile.Write(ref _pieces[id], p);
        }
        return p;
    }

    /// <summary>True for tokens a decode with <c>skipSpecial</c> leaves out (control and unknown, as llama.cpp).</summary>
    public bool IsSpecial(int id) => (_attrs[CheckId(id)] & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0;

    /// <summary>
    /// Token ids of <paramref name="text"/>. <paramref name="addSpecial"/> adds BOS/EOS as the metadata says;
    /// <paramref name="parseSpecial"/> turns control-token text in the input (e.g. <c>&lt;|im_start|&gt;</c>) into
    /// its id. User-defined tokens are always matched whole, as in llama.cpp and Hugging Face tokenizers.
    /// </summary>
    public int[] Encode(string text, bool addSpecial = true, bool parseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new List<int>(text.Length / 3 + 2);
        if (addSpecial && AddBos) output.Add(BosId!.Value);
        var isPreviousSpecial = true;
        foreach (var (start, length, token) in Partition(text, parseSpecial))
        {
            if (token >= 0)
            {
                output.Add(token);
                isPreviousSpecial = true;
            }
            else
            {
                EncodeFragment(text.AsSpan(start, length), isPreviousSpecial, output);
                isPreviousSpecial = false;
            }
        }
        if (addSpecial && AddEos) output.Add(EosId!.Value);
        return output.ToArray();
    }

    /// <summary>Tokenizes one run of plain text (no special tokens in it) onto <paramref name="output"/>.</summary>
    private protected abstract void EncodeFragment(ReadOnlySpan<char> text, bool afterSpecial, List<int> output);

    /// <summary>
    /// Text of a whole sequence. The SPM dummy-prefix space of the first piece is removed, so
    /// <c>Decode(Encode(x)) == x</c>; with <paramref name="skipSpecial"/> control and unknown tokens are left out.
    /// Pieces are joined as they are (no clean-up of spaces before punctuation). A <see cref="StreamingDecoder"/>
    /// emits the same text for a sequence that starts with BOS; for one that does not (a continuation) it keeps
    /// the first space, which this method drops. Invalid UTF-8 becomes U+FFFD.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecial = true)
    {
        var bytes = new List<byte>(ids.Length * 4);
        var stripSpace = AddSpacePrefix;
        foreach (var id in ids)
        {
            if (skipSpecial && IsSpecial(id)) continue;
            var piece = TokenBytes(id);
            if (stripSpace && !IsSpecial(id))
            {
                if (piece.Length > 0 && piece[0] == (byte)' ') piece = piece[1..];
                stripSpace = false;
            }
            foreach (var b in piece) bytes.Add(b);
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>A decoder for one sequence's generated tokens.</summary>
    public StreamingDecoder CreateStreamingDecoder(bool skipSpecial = true) => new(this, skipSpecial);

    private protected abstract byte[] BuildNormalPiece(string text);

    private byte[] BuildPiece(int id)
    {
        var a = _attrs[id];
        var text = _texts[id];
        if ((a & (TokenAttributes.Control | TokenAttributes.Unknown | TokenAttributes.UserDefined)) != 0) return Encoding.UTF8.GetBytes(text);
        if ((a & TokenAttributes.Normal) != 0) return BuildNormalPiece(text);
        if ((a & TokenAttributes.Byte) != 0 && TryParseByteToken(text, out var b)) return [b];
        return [];
    }

    /// <summary>Parses <c>&lt;0xNN&gt;</c>.</summary>
    protected static bool TryParseByteToken(string text, out byte value)
    {
        value = 0;
        return text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text[5] == '>'
            && byte.TryParse(text.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out value);
    }

    private int CheckId(int id) =>
        (uint)id < (uint)_texts.Length ? id : throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the vocabulary of {_texts.Length}");

    /// <summary>
    /// Splits the text into plain runs (token -1) and special tokens, longest special text first, like
    /// llama.cpp's <c>tokenizer_st_partition</c>. Control and unknown tokens only when <paramref name="parseSpecial"/>.
    /// </summary>
    private List<(int Start, int Length, int Token)> Partition(string text, bool parseSpecial)
    {
        var parts = new List<(int Start, int Length, int Token)>();
        if (text.Length == 0) return parts;
        parts.Add((0, text.Length, -1));
        var next = new List<(int Start, int Length, int Token)>();
        foreach (var id in _specialTokens)
        {
            var a = _attrs[id];
            if (!parseSpecial && (a & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0) continue;
            var special = _texts[id];
            next.Clear();
            var found = false;
            foreach (var part in parts)
            {
                if (part.Token >= 0)
                {
                    next.Add(part);
                    continue;
                }
                // Each occurrence, left to right; the remainder right of one is searched again.
                var (start, length) = (part.Start, part.Length);
                while (length > 0)
                {
                    var at = text.AsSpan(start, length).IndexOf(special, StringComparison.Ordinal);
                    if (at < 0)
                    {
                        next.Add((start, length, -1));
                        break;
                    }
                    found = true;
                    var leftLength = at;
                    if ((a & TokenAttributes.LStrip) != 0)
                    {
                        while (leftLength > 0 && IsAsciiSpace(text[start + leftLength - 1])) leftLength--;
                    }
                    if (leftLength > 0) next.Add((start, leftLength, -1));
                    next.Add((start + at, special.Length, id));
                    var rightStart = start + at + special.Length;
                    var rightLength = start + length - rightStart;
                    if ((a & TokenAttributes.RStrip) != 0)
                    {
                        while (rightLength > 0 && IsAsciiSpace(text[rightStart]))
                        {
                            rightStart++;
                            rightLength--;
                        }
                    }
                    (start, length) = (rightStart, rightLength);
                }
            }
            if (found) (parts, next) = (next, parts);
        }
        return parts;
    }

    // C isspace in the "C" locale, which llama.cpp's strip uses on bytes.
    private static bool IsAsciiSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';

    private HashSet<int> FindEndOfGeneration()
    {
        var eog = new HashSet<int>();
        // llama.cpp marks these texts as end of generation and forces them to control if the file did not.
        string[] markers =
        [
            "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
            "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>",
        ];
        foreach (var m in markers)
        {
            if (!TokenIds.TryGetValue(m, out var id)) continue;
            eog.Add(id);
            _attrs[id] |= TokenAttributes.Control;
        }
        foreach (var id in new[] { EosId, EotId, EomId })
        {
            if (id is { } v) eog.Add(v);
        }
        // gpt-oss style vocabularies end a message with <|end|> but a turn with <|return|>/<|call|>.
        if (TokenIds.TryGetValue("<|end|>", out var end) && end != EosId && end != EotId
            && ((TokenIds.ContainsKey("<|return|>") && TokenIds.ContainsKey("<|call|>"))
                || (TokenIds.ContainsKey("<|calls|>") && TokenIds.ContainsKey("<|flush|>"))))
        {
            eog.Remove(end);
            _attrs[end] = TokenAttributes.UserDefined;
        }
        return eog;
    }

    /// <summary>
    /// Strip flags are not in GGUF; llama.cpp sets them by <c>general.name</c>. Phi-3 drops whitespace after its
    /// special tokens (so <c>&lt;|user|&gt;\n</c> in a chat template yields no newline token).
    /// </summary>
    private void ApplyNameAttributes(string? generalName)
    {
        var name = (generalName ?? "").ToLowerInvariant();
        if (!name.Contains("phi-3", StringComparison.Ordinal) && !name.Contains("phi3", StringComparison.Ordinal)) return;
        for (var id = 0; id < _attrs.Length; id++)
        {
            if ((_attrs[id] & (TokenAttributes.Control | TokenAttributes.UserDefined | TokenAttributes.Unknown)) != 0)
                _attrs[id] |= TokenAttributes.RStrip;
        }
        if (TokenIds.TryGetValue("</s>", out var eos)) _attrs[eos] |= TokenAttributes.RStrip;
        foreach (var t in new[] { "<unk>", "<s>", "<|endoftext|>" })
        {
            if (TokenIds.TryGetValue(t, out var id)) _attrs[id] &= ~TokenAttributes.RStrip;
        }
    }
}

/// <summary>The vocabulary arrays common to both kinds, read and checked once.</summary>
internal sealed class TokenizerData
{
    public required GgufFile File { get; init; }
    public required string[] Texts { get; init; }
    public required float[] Scores { get; init; }
    public required TokenAttributes[] Attributes { get; init; }
    public int? DefaultBos { get; init; }
    public int? DefaultEos { get; init; }
    public int? DefaultUnknown { get; init; }

    public static TokenizerData Read(GgufFile file, string model)
    {
        var texts = (file.Get("tokenizer.ggml.tokens")
            ?? throw new InvalidDataException($"{file.Path}: tokenizer.ggml.tokens is missing")).AsArray<string>().ToArray();
        if (texts.Length == 0) throw new InvalidDataException($"{file.Path}: tokenizer.ggml.tokens is empty");
        for (var i = 0; i < texts.Length; i++)
        {
            // llama.cpp renames empty entries so that no token matches the empty string.
            if (texts[i].Length == 0) texts[i] = $"[EMPTY_{i}]";
        }

        var scores = new float[texts.Length];
        if (file.Get("tokenizer.ggml.scores") is { } s)
        {
            var a = s.AsArray<float>();
            if (a.Length != texts.Length) throw new InvalidDataException($"{file.Path}: {a.Length} scores for {texts.Length} tokens");
            a.CopyTo(scores, 0);
        }

        var attrs = new TokenAttributes[texts.Length];
        if (file.Get("tokenizer.ggml.token_type") is { } t)
        {
            var types = t.Value switch
            {
                int[] ints => ints,
                uint[] uints => uints.Select(u => (int)u).ToArray(),
                _ => throw new InvalidDataException($"{file.Path}: tokenizer.ggml.token_type is {t}, expected an array of int32"),
            };
            if (types.Length != texts.Length) throw new InvalidDataException($"{file.Path}: {types.Length} token types for {texts.Length} tokens");
            for (var i = 0; i < types.Length; i++) attrs[i] = TokenTypes.FromGguf(types[i]);
        }
        else
        {
            Array.Fill(attrs, TokenAttributes.Normal);
        }

        // llama.cpp's SPM defaults (<unk>=0, <s>=1, </s>=2) apply when the keys are missing; BPE has none we trust.
        var spm = model == "llama";
        return new TokenizerData
        {
            File = file, Texts = texts, Scores = scores, Attributes = attrs,
            DefaultBos = spm && texts.Length > 1 ? 1 : null,
            DefaultEos = spm && texts.Length > 2 ? 2 : null,
            DefaultUnknown = spm ? 0 : null,
        };
    }

    /// <summary><c>tokenizer.ggml.&lt;key&gt;</c>; an id outside the vocabulary (e.g. -1 written as 4294967295) counts as absent.</summary>
    public int? Id(string key, int? fallback)
    {
        var v = File.GetInt("tokenizer.ggml." + key);
        if (v is null) return fallback;
        return v >= 0 && v < Texts.Length ? (int)v : fallback;
    }
}
