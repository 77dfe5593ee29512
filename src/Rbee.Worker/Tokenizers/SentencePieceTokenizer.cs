using System.Text;

namespace Rbee.Worker.Tokenizers;

/// <summary>
/// SentencePiece-style tokenizer (<c>tokenizer.ggml.model = llama</c>): spaces become '▁', a dummy '▁' is put in
/// front of each text run that starts the input or follows a special token, then the highest-scoring adjacent
/// pair that is a vocabulary entry is merged until none is left (a heap of bigrams, O(n log n)). A symbol that
/// is no entry falls back to its UTF-8 bytes as <c>&lt;0xNN&gt;</c> tokens. Same order and tie-breaks as
/// llama.cpp's <c>llm_tokenizer_spm_session</c>.
/// </summary>
public sealed class SentencePieceTokenizer : Tokenizer
{
    private const char SpaceMark = '\u2581'; // '▁'

    private readonly float[] _scores;
    private readonly int[] _byteTokens = new int[256];

    public override string Model => "llama";

    internal SentencePieceTokenizer(TokenizerData data) : base(data, addSpacePrefix: true, defaultAddBos: true)
    {
        _scores = data.Scores;
        for (var b = 0; b < 256; b++)
        {
            // llama.cpp's byte_to_token: <0xNN>, else the byte as a one-char token.
            if (TokenIds.TryGetValue($"<0x{b:X2}>", out var id)) _byteTokens[b] = id;
            else if (b < 0x80 && TokenIds.TryGetValue(((char)b).ToString(), out id)) _byteTokens[b] = id;
            else _byteTokens[b] = -1;
        }
    }

    private protected override byte[] BuildNormalPiece(string text) => Encoding.UTF8.GetBytes(text.Replace(SpaceMark, ' '));

    private protected override void EncodeFragment(ReadOnlySpan<char> fragment, bool afterSpecial, List<int> output)
    {
        var prefix = AddSpacePrefix && afterSpecial;
        var text = string.Create(fragment.Length + (prefix ? 1 : 0), fragment, static (span, source) =>
        {
            var at = 0;
            if (span.Length > source.Length) span[at++] = SpaceMark; // the dummy prefix
            foreach (var c in source) span[at++] = c == ' ' ? SpaceMark : c;
        });
        if (text.Length == 0) return;

        // Symbols are code points (one or two chars), linked in a list that merges shrink.
        var count = 0;
        var start = new int[text.Length];
        var len = new int[text.Length];
        for (var i = 0; i < text.Length; count++)
        {
            var n = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            start[count] = i;
            len[count] = n;
            i += n;
        }
        var prev = new int[count];
        var next = new int[count];
        for (var i = 0; i < count; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }

        // Highest score first; on equal scores the leftmost pair (llama.cpp's comparator).
        var queue = new PriorityQueue<(int Left, int Right, int Size), (float NegScore, int Left)>();
        void TryAdd(int left, int right)
        {
            if (left < 0 || right < 0) return;
            var size = len[left] + len[right];
            if (!TokenIdsBySpan.TryGetValue(text.AsSpan(start[left], size), out var id)) return;
            queue.Enqueue((left, right, size), (-_scores[id], left));
        }

        for (var i = 1; i < count; i++) TryAdd(i - 1, i);
        while (queue.TryDequeue(out var bigram, out _))
        {
            var (l, r, size) = bigram;
            // Stale: one side was merged away, or grew since the pair was queued.
            if (len[l] == 0 || len[r] == 0 || len[l] + len[r] != size) continue;
            len[l] += len[r];
            len[r] = 0;
            next[l] = next[r];
            if (next[r] >= 0) prev[next[r]] = l;
            TryAdd(prev[l], l);
            TryAdd(l, next[l]);
        }

        Span<byte> utf8 = stackalloc byte[8];
        for (var i = 0; i != -1; i = next[i])
        {
            var piece = text.AsSpan(start[i], len[i]);
            if (TokenIdsBySpan.TryGetValue(piece, out var id))
            {
                output.Add(id);
                continue;
            }
            // Only single code points can be left unmatched: every merge made a vocabulary entry.
            var n = Encoding.UTF8.GetBytes(piece, utf8);
            for (var k = 0; k < n; k++)
            {
                var t = _byteTokens[utf8[k]];
                if (t < 0)
                {
                    t = UnknownId ?? throw new InvalidOperationException(
                        $"byte 0x{utf8[k]:X2} has no <0x{utf8[k]:X2}> token and the vocabulary has no unknown token");
                }
                output.Add(t);
            }
        }
    }
}
