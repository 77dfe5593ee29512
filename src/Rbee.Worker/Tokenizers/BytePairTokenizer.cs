namespace Rbee.Worker.Tokenizers;

/// <summary>
/// Byte-level BPE (<c>tokenizer.ggml.model = gpt2</c>): the model family's pre-tokenizer splits the text
/// (<c>tokenizer.ggml.pre</c>), each piece is written in GPT-2's byte alphabet, then the adjacent pair with the
/// lowest merge rank (<c>tokenizer.ggml.merges</c>) is merged until no ranked pair is left. Pairs are looked up
/// by interned piece ids in one dictionary and kept in a heap, so a piece of n bytes costs O(n log n).
/// Same order and tie-breaks as llama.cpp's <c>llm_tokenizer_bpe_session</c>.
/// </summary>
public sealed class BytePairTokenizer : Tokenizer
{
    private readonly PreTokenizer _pre;

    // Every string that appears in a merge is interned at load: a piece id names a symbol's text.
    private readonly Dictionary<long, (int Rank, int Result)> _merges = new();
    private readonly int[] _bytePieces = new int[256];
    private readonly int[] _pieceTokens; // piece id -> token id, or -1

    public override string Model => "gpt2";

    /// <summary>The <c>tokenizer.ggml.pre</c> name in effect.</summary>
    public string PreTokenizerName => _pre.Name;

    internal BytePairTokenizer(TokenizerData data) : this(data, PreTokenizer.ForName(data.File.GetString("tokenizer.ggml.pre")))
    {
    }

    private BytePairTokenizer(TokenizerData data, PreTokenizer pre) : base(data, addSpacePrefix: false, defaultAddBos: pre.AddBosByDefault)
    {
        _pre = pre;
        var pieceIds = new Dictionary<string, int>(StringComparer.Ordinal);
        var pieceTexts = new List<string>();
        var merges = (data.File.Get("tokenizer.ggml.merges")
            ?? throw new InvalidDataException($"{data.File.Path}: tokenizer.ggml.merges is missing (required for gpt2 tokenizers)")).AsArray<string>();
        for (var rank = 0; rank < merges.Length; rank++)
        {
            var m = merges[rank];
            var sep = m.Length > 1 ? m.IndexOf(' ', 1) : -1;
            if (sep < 0) continue;
            var left = Intern(m[..sep]);
            var right = Intern(m[(sep + 1)..]);
            var key = Key(left, right);
            // llama.cpp keeps the first rank of a repeated merge.
            if (_merges.ContainsKey(key)) continue;
            _merges[key] = (rank, Intern(m[..sep] + m[(sep + 1)..]));
        }
        for (var b = 0; b < 256; b++) _bytePieces[b] = Intern(ByteLevel.Encode((byte)b).ToString());
        _pieceTokens = new int[pieceTexts.Count];
        for (var i = 0; i < pieceTexts.Count; i++) _pieceTokens[i] = TokenIds.TryGetValue(pieceTexts[i], out var id) ? id : -1;

        int Intern(string s)
        {
            if (pieceIds.TryGetValue(s, out var id)) return id;
            id = pieceTexts.Count;
            pieceIds[s] = id;
            pieceTexts.Add(s);
            return id;
        }
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    private protected override byte[] BuildNormalPiece(string text)
    {
        var bytes = new List<byte>(text.Length);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in text.EnumerateRunes())
        {
            if (rune.Value <= 0xFFFF && ByteLevel.TryDecode((char)rune.Value, out var b))
            {
                bytes.Add(b);
                continue;
            }
            // Not in the byte alphabet (a hand-added token): keep the character itself.
            var n = rune.EncodeToUtf8(utf8);
            for (var k = 0; k < n; k++) bytes.Add(utf8[k]);
        }
        return bytes.ToArray();
    }

    private protected override void EncodeFragment(ReadOnlySpan<char> fragment, bool afterSpecial, List<int> output)
    {
        // One scratch per call, reused across the pieces of this text: the tokenizer itself stays thread-safe.
        var scratch = new MergeScratch();
        foreach (var word in _pre.Split(fragment.ToString()))
        {
            EncodeWord(word, output, scratch);
        }
    }

    /// <summary>Per-call working arrays of the merge loop, grown to the longest piece seen.</summary>
    private sealed class MergeScratch
    {
        public int[] Len = new int[64];
        public int[] Piece = new int[64];
        public int[] Prev = new int[64];
        public int[] Next = new int[64];
        public readonly PriorityQueue<(int Left, int Right, int LeftLen, int RightLen, int Result), (int Rank, int Left)> Queue = new();

        public void Ensure(int n)
        {
            if (Len.Length >= n) return;
            var size = Math.Max(n, Len.Length * 2);
            Len = new int[size];
            Piece = new int[size];
            Prev = new int[size];
            Next = new int[size];
        }
    }

    private void EncodeWord(string word, List<int> output, MergeScratch s)
    {
        if (_pre.IgnoreMerges && TokenIds.TryGetValue(word, out var whole))
        {
            output.Add(whole);
            return;
        }

        // One symbol per byte (byte-level char) at index = its start; piece = interned id of its text, or -1
        // if no merge knows it. Merging keeps the left index, so a symbol's text is word[i .. i + len[i]).
        var n = word.Length;
        if (n == 0) return;
        s.Ensure(n);
        var (len, piece, prev, next, queue) = (s.Len, s.Piece, s.Prev, s.Next, s.Queue);
        queue.Clear();
        for (var i = 0; i < n; i++)
        {
            len[i] = 1;
            piece[i] = ByteLevel.TryDecode(word[i], out var b) ? _bytePieces[b] : -1;
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }

        // Lowest rank first; on equal ranks the leftmost pair (llama.cpp's comparator).
        void TryAdd(int left, int right)
        {
            if (left < 0 || right < 0 || piece[left] < 0 || piece[right] < 0) return;
            if (!_merges.TryGetValue(Key(piece[left], piece[right]), out var m)) return;
            queue.Enqueue((left, right, len[left], len[right], m.Result), (m.Rank, left));
        }

        for (var i = 1; i < n; i++) TryAdd(i - 1, i);
        while (queue.TryDequeue(out var bigram, out _))
        {
            var (l, r, ll, rl, result) = bigram;
            // Stale: a side was merged away or its text changed since the pair was queued.
            if (len[l] == 0 || len[r] == 0 || len[l] != ll || len[r] != rl) continue;
            len[l] += len[r];
            len[r] = 0;
            piece[l] = result;
            next[l] = next[r];
            if (next[r] >= 0) prev[next[r]] = l;
            TryAdd(prev[l], l);
            TryAdd(l, next[l]);
        }

        for (var i = 0; i != -1; i = next[i])
        {
            var text = word.AsSpan(i, len[i]);
            var token = piece[i] >= 0 ? _pieceTokens[piece[i]] : -1;
            if (token < 0 && TokenIdsBySpan.TryGetValue(text, out var byText)) token = byText;
            if (token >= 0)
            {
                output.Add(token);
                continue;
            }
            // No such token: llama.cpp emits the single-character tokens it can find and drops the rest.
            foreach (var c in text)
            {
                if (c < 0x80 && TokenIdsBySpan.TryGetValue(new ReadOnlySpan<char>(in c), out var t)) output.Add(t);
            }
        }
    }
}
