using System.Globalization;
using System.Text;

namespace Rbee.Worker.ChatTemplates;

internal enum TokenKind
{
    Data,
    VariableBegin,
    VariableEnd,
    BlockBegin,
    BlockEnd,
    Name,
    String,
    Integer,
    Float,
    Operator,
    EndOfTemplate,
}

internal readonly record struct Token(TokenKind Kind, string Value, int Line, int Column, object? Literal = null)
{
    public bool IsName(string name) => Kind == TokenKind.Name && Value == name;

    public bool IsOperator(string op) => Kind == TokenKind.Operator && Value == op;

    public string Describe() => Kind switch
    {
        TokenKind.EndOfTemplate => "end of template",
        TokenKind.BlockEnd => "end of statement block",
        TokenKind.VariableEnd => "end of print statement",
        TokenKind.Data => "template data",
        _ => $"'{Value}'",
    };
}

/// <summary>
/// Splits a template into data and tag tokens with jinja2's rules under Hugging Face's settings:
/// <c>trim_blocks</c> (the first newline after a block or comment tag goes), <c>lstrip_blocks</c> (spaces
/// and tabs before a block or comment tag at the start of a line go), <c>-</c>/<c>+</c> whitespace control,
/// <c>{% raw %}</c>, and no trailing newline kept (jinja2's <c>keep_trailing_newline=False</c>).
/// </summary>
internal sealed class TemplateLexer
{
    private static readonly string[] Operators =
        ["//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"];

    private readonly string _src;
    private readonly List<int> _lineStarts = [0];
    private readonly List<Token> _tokens = [];
    private int _pos;
    private bool _lineStarting = true;

    private TemplateLexer(string source)
    {
        var normalized = source.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        if (normalized.EndsWith('\n'))
        {
            normalized = normalized[..^1];
        }

        _src = normalized;
        for (var i = 0; i < _src.Length; i++)
        {
            if (_src[i] == '\n')
            {
                _lineStarts.Add(i + 1);
            }
        }
    }

    public static List<Token> Tokenize(string source)
    {
        var lexer = new TemplateLexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    private (int Line, int Column) Where(int pos)
    {
        var idx = _lineStarts.BinarySearch(pos);
        if (idx < 0)
        {
            idx = ~idx - 1;
        }

        return (idx + 1, pos - _lineStarts[idx] + 1);
    }

    private ChatTemplateException Error(string message, int pos)
    {
        var (line, col) = Where(pos);
        return ChatTemplateException.At(message, line, col);
    }

    private void Emit(TokenKind kind, string value, int pos, object? literal = null)
    {
        var (line, col) = Where(pos);
        _tokens.Add(new Token(kind, value, line, col, literal));
    }

    private void Run()
    {
        while (_pos < _src.Length)
        {
            var tag = FindTagStart(_pos);
            if (tag < 0)
            {
                Emit(TokenKind.Data, _src[_pos..], _pos);
                _pos = _src.Length;
                break;
            }

            var text = _src[_pos..tag];
            var kind = _src[tag + 1];
            var signPos = tag + 2;
            var sign = signPos < _src.Length && _src[signPos] is '-' or '+' ? _src[signPos] : '\0';

            if (sign == '-')
            {
                text = Py.Strip(text, null, left: false, right: true);
            }
            else if (sign != '+' && kind != '{')
            {
                // lstrip_blocks: drop the indentation before a block or comment tag that starts its line.
                var lineStart = text.LastIndexOf('\n') + 1;
                if ((lineStart > 0 || _lineStarting) && lineStart < text.Length && IsBlank(text, lineStart))
                {
                    text = text[..lineStart];
                }
            }

            if (text.Length > 0)
            {
                Emit(TokenKind.Data, text, _pos);
            }

            var inner = sign == '\0' ? signPos : signPos + 1;
            if (kind == '#')
            {
                LexComment(tag, inner);
            }
            else if (kind == '%' && TryLexRaw(tag, inner))
            {
                // handled
            }
            else
            {
                LexTag(tag, inner, kind == '%');
            }
        }

        Emit(TokenKind.EndOfTemplate, "", _src.Length);
    }

    private static bool IsBlank(string text, int from)
    {
        for (var i = from; i < text.Length; i++)
        {
            if (!Py.IsSpace(text[i]))
            {
                return false;
            }
        }

        return true;
    }

    private int FindTagStart(int from)
    {
        var i = from;
        while (true)
        {
            i = _src.IndexOf('{', i);
            if (i < 0 || i + 1 >= _src.Length)
            {
                return -1;
            }

            if (_src[i + 1] is '{' or '%' or '#')
            {
                return i;
            }

            i++;
        }
    }

    /// <summary>Consumes what follows a tag's end: all whitespace after '-', one newline after a block tag (trim_blocks).</summary>
    private void AfterTagEnd(int end, bool minus, bool plus, bool trimBlocks)
    {
        _pos = end;
        if (minus)
        {
            while (_pos < _src.Length && Py.IsSpace(_src[_pos]))
            {
                _pos++;
            }
        }
        else if (trimBlocks && !plus && _pos < _src.Length && _src[_pos] == '\n')
        {
            _pos++;
        }

        _lineStarting = _pos > 0 && _src[_pos - 1] == '\n';
    }

    private void LexComment(int tag, int inner)
    {
        var end = _src.IndexOf("#}", inner, StringComparison.Ordinal);
        if (end < 0)
        {
            throw Error("missing end of comment tag", tag);
        }

        var minus = end > inner && _src[end - 1] == '-';
        var plus = end > inner && _src[end - 1] == '+';
        AfterTagEnd(end + 2, minus, plus, trimBlocks: true);
    }

    private bool TryLexRaw(int tag, int inner)
    {
        var i = SkipSpace(inner);
        if (!MatchWord(i, "raw"))
        {
            return false;
        }

        i = SkipSpace(i + 3);
        var minus = false;
        if (i < _src.Length && _src[i] == '-')
        {
            minus = true;
            i++;
        }

        if (!Matches(i, "%}"))
        {
            return false;
        }

        var bodyStart = i + 2;
        if (minus)
        {
            while (bodyStart < _src.Length && Py.IsSpace(_src[bodyStart]))
            {
                bodyStart++;
            }
        }

        // Find {%[-+]? endraw [-+]?%}
        var search = bodyStart;
        while (true)
        {
            var open = _src.IndexOf("{%", search, StringComparison.Ordinal);
            if (open < 0)
            {
                throw Error("missing end of raw directive ({% endraw %})", tag);
            }

            var j = open + 2;
            var sign = j < _src.Length && _src[j] is '-' or '+' ? _src[j] : '\0';
            if (sign != '\0')
            {
                j++;
            }

            j = SkipSpace(j);
            if (!MatchWord(j, "endraw"))
            {
                search = open + 2;
                continue;
            }

            j = SkipSpace(j + 6);
            var endMinus = false;
            var endPlus = false;
            if (j < _src.Length && _src[j] is '-' or '+')
            {
                endMinus = _src[j] == '-';
                endPlus = _src[j] == '+';
                j++;
            }

            if (!Matches(j, "%}"))
            {
                search = open + 2;
                continue;
            }

            var body = _src[bodyStart..open];
            if (sign == '-')
            {
                body = Py.Strip(body, null, left: false, right: true);
            }
            else if (sign != '+')
            {
                var lineStart = body.LastIndexOf('\n') + 1;
                if (lineStart > 0 && lineStart < body.Length && IsBlank(body, lineStart))
                {
                    body = body[..lineStart];
                }
            }

            if (body.Length > 0)
            {
                Emit(TokenKind.Data, body, bodyStart);
            }

            AfterTagEnd(j + 2, endMinus, endPlus, trimBlocks: true);
            return true;
        }
    }

    private int SkipSpace(int i)
    {
        while (i < _src.Length && Py.IsSpace(_src[i]))
        {
            i++;
        }

        return i;
    }

    private bool Matches(int i, string s) => i + s.Length <= _src.Length && string.CompareOrdinal(_src, i, s, 0, s.Length) == 0;

    private bool MatchWord(int i, string word) =>
        Matches(i, word) && (i + word.Length >= _src.Length || !IsNameChar(_src[i + word.Length]));

    private static bool IsNameStart(char c) => char.IsLetter(c) || c == '_';

    private static bool IsNameChar(char c) => char.IsLetterOrDigit(c) || c == '_';

    private void LexTag(int tag, int inner, bool block)
    {
        Emit(block ? TokenKind.BlockBegin : TokenKind.VariableBegin, block ? "{%" : "{{", tag);
        _pos = inner;
        var depth = 0;
        var close = block ? "%}" : "}}";
        while (true)
        {
            _pos = SkipSpace(_pos);
            if (_pos >= _src.Length)
            {
                throw Error($"unexpected end of template, expected '{close}'", tag);
            }

            if (depth == 0)
            {
                if ((_src[_pos] == '-' || (block && _src[_pos] == '+')) && Matches(_pos + 1, close))
                {
                    Emit(block ? TokenKind.BlockEnd : TokenKind.VariableEnd, close, _pos);
                    AfterTagEnd(_pos + 3, _src[_pos] == '-', _src[_pos] == '+', trimBlocks: block);
                    return;
                }

                if (Matches(_pos, close))
                {
                    Emit(block ? TokenKind.BlockEnd : TokenKind.VariableEnd, close, _pos);
                    AfterTagEnd(_pos + 2, minus: false, plus: false, trimBlocks: block);
                    return;
                }
            }

            var c = _src[_pos];
            if (IsNameStart(c))
            {
                var start = _pos;
                while (_pos < _src.Length && IsNameChar(_src[_pos]))
                {
                    _pos++;
                }

                Emit(TokenKind.Name, _src[start.._pos], start);
            }
            else if (char.IsAsciiDigit(c))
            {
                LexNumber();
            }
            else if (c is '\'' or '"')
            {
                LexString();
            }
            else
            {
                var op = Array.Find(Operators, o => Matches(_pos, o));
                if (op is null)
                {
                    throw Error($"unexpected char '{c}'", _pos);
                }

                if (op is "(" or "[" or "{")
                {
                    depth++;
                }
                else if (op is ")" or "]" or "}")
                {
                    if (depth == 0)
                    {
                        throw Error($"unexpected '{op}'", _pos);
                    }

                    depth--;
                }

                Emit(TokenKind.Operator, op, _pos);
                _pos += op.Length;
            }
        }
    }

    private void LexNumber()
    {
        var start = _pos;
        ReadDigits();
        var isFloat = false;
        if (_pos + 1 < _src.Length && _src[_pos] == '.' && char.IsAsciiDigit(_src[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            ReadDigits();
        }

        if (_pos < _src.Length && _src[_pos] is 'e' or 'E')
        {
            var save = _pos;
            _pos++;
            if (_pos < _src.Length && _src[_pos] is '+' or '-')
            {
                _pos++;
            }

            if (_pos < _src.Length && char.IsAsciiDigit(_src[_pos]))
            {
                isFloat = true;
                ReadDigits();
            }
            else
            {
                _pos = save;
            }
        }

        var text = _src[start.._pos].Replace("_", "", StringComparison.Ordinal);
        if (isFloat)
        {
            Emit(TokenKind.Float, text, start, double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture));
        }
        else if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var l))
        {
            Emit(TokenKind.Integer, text, start, l);
        }
        else
        {
            throw Error($"integer literal '{text}' is too large", start);
        }
    }

    private void ReadDigits()
    {
        while (_pos < _src.Length && (char.IsAsciiDigit(_src[_pos]) || (_src[_pos] == '_' && _pos + 1 < _src.Length && char.IsAsciiDigit(_src[_pos + 1]))))
        {
            _pos++;
        }
    }

    /// <summary>String literals decode like jinja2's (Python's unicode-escape): \n \t \\ \' \" \xHH \uHHHH, unknown escapes kept.</summary>
    private void LexString()
    {
        var start = _pos;
        var quote = _src[_pos++];
        var sb = new StringBuilder();
        while (true)
        {
            if (_pos >= _src.Length)
            {
                throw Error("unterminated string literal", start);
            }

            var c = _src[_pos++];
            if (c == quote)
            {
                break;
            }

            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }

            if (_pos >= _src.Length)
            {
                throw Error("unterminated string literal", start);
            }

            var e = _src[_pos++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '\n': break;
                case 'x':
                    sb.Append(ReadHexEscape(2, start));
                    break;
                case 'u':
                    sb.Append(ReadHexEscape(4, start));
                    break;
                case 'U':
                    sb.Append(ReadHexEscape(8, start));
                    break;
                case >= '0' and <= '7':
                    var value = e - '0';
                    for (var k = 0; k < 2 && _pos < _src.Length && _src[_pos] is >= '0' and <= '7'; k++)
                    {
                        value = (value * 8) + (_src[_pos++] - '0');
                    }

                    sb.Append((char)value);
                    break;
                default:
                    sb.Append('\\').Append(e);
                    break;
            }
        }

        Emit(TokenKind.String, _src[start.._pos], start, sb.ToString());
    }

    private string ReadHexEscape(int digits, int start)
    {
        if (_pos + digits > _src.Length ||
            !int.TryParse(_src.AsSpan(_pos, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var code))
        {
            throw Error("truncated \\x, \\u or \\U escape in string literal", start);
        }

        _pos += digits;
        return char.ConvertFromUtf32(code);
    }
}
