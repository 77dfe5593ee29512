using System.Text;

namespace Rbee.Worker.Tokenizers;

/// <summary>
/// Turns one sequence's tokens, fed one at a time, into text as soon as it is whole UTF-8: a character whose
/// bytes arrive in several byte-fallback tokens is held back until its last byte and then emitted at once,
/// never as U+FFFD halves. Bytes that can never form a character still become U+FFFD (at the latest on
/// <see cref="Flush"/>).
/// <para>
/// Leading space: when the sequence fed starts with BOS and the model adds a SentencePiece space prefix, the
/// space the prefix put before the first word is dropped (the prompt "Echoes" reads back as "Echoes"). A
/// sequence that does not start with BOS is a continuation and keeps its spaces, so the generated tokens
/// <c>▁of ▁probability</c> stream as " of probability".
/// </para>
/// Not thread-safe: one decoder per sequence.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _skipSpecial;
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private char[] _chars = new char[64];
    private bool _started;
    private bool _stripNextSpace;

    internal StreamingDecoder(Tokenizer tokenizer, bool skipSpecial)
    {
        _tokenizer = tokenizer;
        _skipSpecial = skipSpecial;
    }

    /// <summary>Feeds one token; returns the text that became complete (often empty while a character is split).</summary>
    public string Feed(int id)
    {
        var first = !_started;
        _started = true;
        if (first && id == _tokenizer.BosId && _tokenizer.AddSpacePrefix) _stripNextSpace = true;
        if (_skipSpecial && _tokenizer.IsSpecial(id)) return "";
        var piece = _tokenizer.TokenBytes(id);
        if (_stripNextSpace && !_tokenizer.IsSpecial(id))
        {
            _stripNextSpace = false;
            if (piece.Length > 0 && piece[0] == (byte)' ') piece = piece[1..];
        }
        return Convert(piece, flush: false);
    }

    /// <summary>Ends the sequence: bytes of an unfinished character come out as U+FFFD.</summary>
    public string Flush() => Convert([], flush: true);

    private string Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        var need = _utf8.GetCharCount(bytes, flush);
        if (need == 0)
        {
            // Still advance the decoder's state over these bytes.
            _utf8.GetChars(bytes, Span<char>.Empty, flush);
            return "";
        }
        if (_chars.Length < need) _chars = new char[Math.Max(need, _chars.Length * 2)];
        var n = _utf8.GetChars(bytes, _chars, flush);
        return new string(_chars, 0, n);
    }
}
