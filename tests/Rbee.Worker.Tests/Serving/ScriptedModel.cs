using System.Text;
using Rbee.Worker.Serving;

namespace Rbee.Worker.Tests.Serving;

/// <summary>
/// Test double of the engine seam for unit tests of <see cref="InferenceLoop"/> and <see cref="SlotPool"/>: a
/// tiny vocabulary whose "model" always predicts <c>Next[last token]</c>, so generated text is known in advance.
/// </summary>
internal sealed class ScriptedModel(string[] pieces, Func<int, int> next) : IServedModel
{
    public const int Eos = 0;
    public int TrainedContextLength => 64;
    public int VocabSize => pieces.Length;
    public string ChatFormat => "fallback";
    public Func<int, int> Next => next;

    public int[] Tokenize(string text, bool addSpecial, bool parseSpecial) =>
        text.Select(ch => Array.IndexOf(pieces, ch.ToString())).ToArray();

    public ReadOnlySpan<byte> TokenBytes(int token) => token switch
    {
        Eos => [],
        _ when pieces[token].StartsWith("0x", StringComparison.Ordinal) => [Convert.ToByte(pieces[token], 16)],
        _ => Encoding.UTF8.GetBytes(pieces[token]),
    };

    public bool IsEndOfGeneration(int token) => token == Eos;
    public string RenderChat(IReadOnlyList<ChatTurn> messages) => FallbackChatFormat.Render(messages);
    public bool RenderedChatHasBos(string rendered) => false;
    public IModelSession CreateSession(int contextSize) => new ScriptedSession(this);
    public void Dispose() { }

    /// <summary>With a value, prompt chunks of at least this many tokens share <see cref="PrefillBatch"/> passes of up to
    /// <see cref="PrefillBatchTokens"/> tokens; without, the engine seam's defaults (every chunk alone).</summary>
    public int? PrefillTogetherFrom { get; init; }

    /// <summary>The chunk lengths of every <see cref="PrefillBatch"/> pass, in order.</summary>
    public List<int[]> PrefillPasses { get; } = [];

    public bool PrefillsTogether(int tokens) => tokens >= PrefillTogetherFrom;
    public int PrefillBatchTokens => PrefillTogetherFrom is null ? 0 : 64;

    /// <summary>Makes the next <see cref="PrefillBatch"/> pass throw (an engine fault) before it evaluates anything.</summary>
    public bool FailNextPrefillPass { get; set; }

    public void PrefillBatch(ReadOnlySpan<IModelSession> sessions, ReadOnlySpan<int> tokens, ReadOnlySpan<int> lengths, Span<float> logits)
    {
        PrefillPasses.Add(lengths.ToArray());
        if (FailNextPrefillPass)
        {
            FailNextPrefillPass = false;
            throw new InvalidOperationException("scripted engine fault");
        }
        for (int i = 0, at = 0; i < sessions.Length; at += lengths[i++])
            sessions[i].Evaluate(tokens.Slice(at, lengths[i])).CopyTo(logits.Slice(i * VocabSize, VocabSize));
    }
}

internal sealed class ScriptedSession(ScriptedModel? model = null) : IModelSession
{
    private readonly List<int> _tokens = [];
    private float[] _logits = [];
    public int Position => _tokens.Count;
    public ReadOnlySpan<int> Tokens => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_tokens);
    public int Evaluated { get; private set; }

    /// <summary>The length of every <see cref="Evaluate"/> call, in order (prompt chunks and decode steps alike).</summary>
    public List<int> Evaluations { get; } = [];

    public ReadOnlySpan<float> Evaluate(ReadOnlySpan<int> tokens)
    {
        _tokens.AddRange(tokens);
        Evaluated += tokens.Length;
        Evaluations.Add(tokens.Length);
        if (model is not { } m) return []; // a bare cache, for tests of which slot holds what
        _logits = new float[m.VocabSize];
        _logits[m.Next(tokens[^1])] = 10f;
        return _logits;
    }

    public void Truncate(int position) => _tokens.RemoveRange(position, _tokens.Count - position);
    public void Dispose() { }
}
