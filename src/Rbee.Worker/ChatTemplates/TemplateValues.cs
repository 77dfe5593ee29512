using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Rbee.Worker.ChatTemplates;

// Values inside the interpreter are plain .NET objects with Python's meaning:
// null = None, bool, long = int, double = float, string = str, List<object?> = list,
// object?[] = tuple, Dictionary<string, object?> = dict (insertion order, as Python's),
// plus Undefined, TemplateNamespace, LoopContext and TemplateCallable.

/// <summary>Jinja's default Undefined: falsy, prints empty, iterates empty, fails on any other use.</summary>
internal sealed class Undefined(string hint)
{
    /// <summary>The jinja2-style explanation used when the value is misused, e.g. "'x' is undefined".</summary>
    public string Hint { get; } = hint;
}

/// <summary>The object <c>namespace(...)</c> returns; the one value a <c>set</c> may change an attribute of.</summary>
internal sealed class TemplateNamespace
{
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>Arguments of a call, filter or test: positional then keyword, as Python binds them.</summary>
internal sealed class CallArgs(string callee, List<object?> positional, Dictionary<string, object?> named)
{
    public static readonly CallArgs Empty = new("", [], new(StringComparer.Ordinal));

    public string Callee { get; } = callee;

    public List<object?> Positional { get; } = positional;

    public Dictionary<string, object?> Named { get; } = named;

    public bool Has(int index, string name) => index < Positional.Count || Named.ContainsKey(name);

    public object? Get(int index, string name, object? fallback = null)
    {
        if (index < Positional.Count)
        {
            return Positional[index];
        }

        return Named.TryGetValue(name, out var v) ? v : fallback;
    }

    /// <summary>Rejects arguments the callee does not take, the way Python's TypeError would.</summary>
    public void Accept(params string[] names)
    {
        if (Positional.Count > names.Length)
        {
            throw new TemplateRuntimeException($"{Callee}() takes at most {names.Length} positional argument(s) ({Positional.Count} given)");
        }

        foreach (var key in Named.Keys)
        {
            if (Array.IndexOf(names, key) < 0)
            {
                throw new TemplateRuntimeException($"{Callee}() got an unexpected keyword argument '{key}'");
            }
        }
    }
}

internal abstract class TemplateCallable
{
    public abstract string Name { get; }

    public abstract object? Invoke(CallArgs args);
}

internal sealed class BuiltinFunction(string name, Func<CallArgs, object?> body) : TemplateCallable
{
    public override string Name { get; } = name;

    public override object? Invoke(CallArgs args) => body(args);
}

/// <summary>A runtime error without a position yet; the interpreter attaches the node's line and column.</summary>
internal sealed class TemplateRuntimeException(string message) : Exception(message);

/// <summary>Python semantics for the interpreter's values: truth, str(), repr(), ==, &lt;, type names.</summary>
internal static class Py
{
    public static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static bool IsList(object? v) => v is List<object?> or object?[];

    public static bool IsNumber(object? v) => v is long or double or bool;

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        object?[] => "tuple",
        Dictionary<string, object?> => "dict",
        TemplateNamespace => "Namespace",
        LoopContext => "LoopContext",
        TemplateCallable => "function",
        _ => v.GetType().Name,
    };

    public static bool Truthy(object? v) => v switch
    {
        null => false,
        Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        object?[] t => t.Length > 0,
        Dictionary<string, object?> d => d.Count > 0,
        _ => true,
    };

    /// <summary>Python's str(): what <c>{{ x }}</c> prints (Undefined prints nothing).</summary>
    public static string Str(object? v) => v switch
    {
        string s => s,
        Undefined => "",
        null => "None",
        bool b => b ? "True" : "False",
        long l => l.ToString(Inv),
        double d => FloatRepr(d),
        TemplateCallable c => $"<function {c.Name}>",
        TemplateNamespace => "<Namespace>",
        LoopContext => "<LoopContext>",
        _ => Repr(v),
    };

    public static string Repr(object? v)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, v);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, object? v)
    {
        switch (v)
        {
            case string s:
                AppendStringRepr(sb, s);
                break;
            case List<object?> or object?[]:
                var items = (IReadOnlyList<object?>)v;
                var isTuple = v is object?[];
                sb.Append(isTuple ? '(' : '[');
                for (var i = 0; i < items.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(", ");
                    }

                    AppendRepr(sb, items[i]);
                }

                // A one-item tuple keeps its comma: (1,).
                sb.Append(!isTuple ? "]" : items.Count == 1 ? ",)" : ")");
                break;
            case Dictionary<string, object?> dict:
                sb.Append('{');
                var first = true;
                foreach (var (k, val) in dict)
                {
                    if (!first)
                    {
                        sb.Append(", ");
                    }

                    first = false;
                    AppendStringRepr(sb, k);
                    sb.Append(": ");
                    AppendRepr(sb, val);
                }

                sb.Append('}');
                break;
            case Undefined:
                sb.Append("Undefined");
                break;
            default:
                sb.Append(Str(v));
                break;
        }
    }

    private static void AppendStringRepr(StringBuilder sb, string s)
    {
        // Python picks single quotes unless the text holds a single quote and no double quote.
        var quote = s.Contains('\'', StringComparison.Ordinal) && !s.Contains('"', StringComparison.Ordinal) ? '"' : '\'';
        sb.Append(quote);
        foreach (var c in s)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == quote)
                    {
                        sb.Append('\\').Append(c);
                    }
                    else if (c < 0x20 || c == 0x7f)
                    {
                        sb.Append("\\x").Append(((int)c).ToString("x2", Inv));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append(quote);
    }

    /// <summary>Python's float repr: shortest round-trip digits, exponent form below 1e-4 and from 1e16.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d))
        {
            return "nan";
        }

        if (double.IsInfinity(d))
        {
            return d > 0 ? "inf" : "-inf";
        }

        if (d == 0)
        {
            return double.IsNegative(d) ? "-0.0" : "0.0";
        }

        var r = d.ToString("R", Inv);
        var negative = r.StartsWith('-');
        if (negative)
        {
            r = r[1..];
        }

        var exp = 0;
        var ePos = r.IndexOfAny(['E', 'e']);
        if (ePos >= 0)
        {
            exp = int.Parse(r.AsSpan(ePos + 1), NumberStyles.AllowLeadingSign, Inv);
            r = r[..ePos];
        }

        var dot = r.IndexOf('.', StringComparison.Ordinal);
        var intPart = dot >= 0 ? r[..dot] : r;
        var fracPart = dot >= 0 ? r[(dot + 1)..] : "";
        var allDigits = intPart + fracPart;
        var digits = allDigits.TrimStart('0');
        var leadingZeros = allDigits.Length - digits.Length;

        // Decimal exponent of the first significant digit.
        var point = intPart.Length + exp - leadingZeros;
        digits = digits.TrimEnd('0');
        if (digits.Length == 0)
        {
            digits = "0";
        }

        var exp10 = point - 1;
        string body;
        if (exp10 < -4 || exp10 >= 16)
        {
            var mant = digits.Length == 1 ? digits : digits[0] + "." + digits[1..];
            body = mant + "e" + (exp10 < 0 ? "-" : "+") + Math.Abs(exp10).ToString("00", Inv);
        }
        else if (point <= 0)
        {
            body = "0." + new string('0', -point) + digits;
        }
        else if (point >= digits.Length)
        {
            body = digits + new string('0', point - digits.Length) + ".0";
        }
        else
        {
            body = digits[..point] + "." + digits[point..];
        }

        return negative ? "-" + body : body;
    }

    public static new bool Equals(object? a, object? b)
    {
        if (a is Undefined || b is Undefined)
        {
            return a is Undefined && b is Undefined;
        }

        if (a is null || b is null)
        {
            return a is null && b is null;
        }

        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double)
            {
                return ToDouble(a) == ToDouble(b);
            }

            return ToLong(a) == ToLong(b);
        }

        switch (a)
        {
            case string sa:
                return b is string sb && string.Equals(sa, sb, StringComparison.Ordinal);
            case List<object?> la:
                return b is List<object?> lb && SequenceEquals(la, lb);
            case object?[] ta:
                return b is object?[] tb && SequenceEquals(ta, tb);
            case Dictionary<string, object?> da:
                if (b is not Dictionary<string, object?> db || da.Count != db.Count)
                {
                    return false;
                }

                foreach (var (k, v) in da)
                {
                    if (!db.TryGetValue(k, out var w) || !Equals(v, w))
                    {
                        return false;
                    }
                }

                return true;
            default:
                return ReferenceEquals(a, b);
        }
    }

    private static bool SequenceEquals(IReadOnlyList<object?> a, IReadOnlyList<object?> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (!Equals(a[i], b[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Python's ordering for &lt; &gt; sort, min and max; TypeError between unrelated types.</summary>
    public static int Compare(object? a, object? b, string op = "<")
    {
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double)
            {
                return ToDouble(a).CompareTo(ToDouble(b));
            }

            return ToLong(a).CompareTo(ToLong(b));
        }

        if (a is string sa && b is string sb)
        {
            return CompareCodePoints(sa, sb);
        }

        if ((a is List<object?> && b is List<object?>) || (a is object?[] && b is object?[]))
        {
            var la = (IReadOnlyList<object?>)a;
            var lb = (IReadOnlyList<object?>)b;
            for (var i = 0; i < Math.Min(la.Count, lb.Count); i++)
            {
                if (!Equals(la[i], lb[i]))
                {
                    return Compare(la[i], lb[i], op);
                }
            }

            return la.Count.CompareTo(lb.Count);
        }

        if (a is Undefined u)
        {
            throw new TemplateRuntimeException(u.Hint);
        }

        if (b is Undefined ub)
        {
            throw new TemplateRuntimeException(ub.Hint);
        }

        throw new TemplateRuntimeException($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    private static int CompareCodePoints(string a, string b)
    {
        var ea = a.EnumerateRunes();
        var eb = b.EnumerateRunes();
        while (true)
        {
            var ha = ea.MoveNext();
            var hb = eb.MoveNext();
            if (!ha || !hb)
            {
                return ha.CompareTo(hb);
            }

            var c = ea.Current.Value.CompareTo(eb.Current.Value);
            if (c != 0)
            {
                return c;
            }
        }
    }

    public static long ToLong(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => (long)d,
        _ => throw new TemplateRuntimeException($"expected an integer, got '{TypeName(v)}'"),
    };

    public static double ToDouble(object? v) => v switch
    {
        double d => d,
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new TemplateRuntimeException($"expected a number, got '{TypeName(v)}'"),
    };

    /// <summary>Python's iter(): what a for loop, list() or join walks. Undefined iterates empty.</summary>
    public static IReadOnlyList<object?> Iterate(object? v) => v switch
    {
        List<object?> l => l,
        object?[] t => t,
        Dictionary<string, object?> d => d.Keys.Cast<object?>().ToList(),
        string s => Chars(s),
        Undefined => [],
        _ => throw new TemplateRuntimeException($"'{TypeName(v)}' object is not iterable"),
    };

    /// <summary>A string as Python sees it: a sequence of code points, not UTF-16 units.</summary>
    public static List<object?> Chars(string s)
    {
        var result = new List<object?>(s.Length);
        foreach (var r in s.EnumerateRunes())
        {
            result.Add(r.ToString());
        }

        return result;
    }

    public static bool HasSurrogates(string s)
    {
        foreach (var c in s)
        {
            if (char.IsSurrogate(c))
            {
                return true;
            }
        }

        return false;
    }

    public static int Length(object? v) => v switch
    {
        string s => HasSurrogates(s) ? s.EnumerateRunes().Count() : s.Length,
        List<object?> l => l.Count,
        object?[] t => t.Length,
        Dictionary<string, object?> d => d.Count,
        Undefined => 0,
        TemplateNamespace n => n.Attributes.Count,
        _ => throw new TemplateRuntimeException($"object of type '{TypeName(v)}' has no len()"),
    };

    /// <summary>Python's str.isspace() set, which is wider than .NET's for the separators U+001C..U+001F.</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || (c >= '\x1c' && c <= '\x1f');

    public static string Strip(string s, string? chars, bool left, bool right)
    {
        var start = 0;
        var end = s.Length;
        Func<char, bool> strip = chars is null ? IsSpace : c => chars.Contains(c, StringComparison.Ordinal);
        if (left)
        {
            while (start < end && strip(s[start]))
            {
                start++;
            }
        }

        if (right)
        {
            while (end > start && strip(s[end - 1]))
            {
                end--;
            }
        }

        return s[start..end];
    }

    /// <summary>Turns caller-supplied .NET values (JSON, dictionaries, lists, messages) into interpreter values.</summary>
    public static object? FromClr(object? v)
    {
        switch (v)
        {
            case null:
                return null;
            case string or bool or long or double or Undefined or TemplateNamespace or TemplateCallable:
                return v;
            case int i:
                return (long)i;
            case short or byte or sbyte or ushort or uint:
                return Convert.ToInt64(v, Inv);
            case ulong ul:
                return ul <= long.MaxValue ? (long)ul : (double)ul;
            case float f:
                return (double)f;
            case decimal m:
                return (double)m;
            case JsonElement e:
                return FromJson(e);
            case JsonDocument doc:
                return FromJson(doc.RootElement);
            case ChatMessage m:
                return FromMessage(m);
            case ChatToolCall c:
                return FromToolCall(c);
            case IEnumerable<KeyValuePair<string, object?>> pairs:
                var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (k, val) in pairs)
                {
                    dict[k] = FromClr(val);
                }

                return dict;
            case IDictionary legacy:
                var converted = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (DictionaryEntry entry in legacy)
                {
                    converted[Convert.ToString(entry.Key, Inv) ?? ""] = FromClr(entry.Value);
                }

                return converted;
            case IEnumerable seq:
                var list = new List<object?>();
                foreach (var item in seq)
                {
                    list.Add(FromClr(item));
                }

                return list;
            default:
                throw new ChatTemplateException($"a template variable of .NET type '{v.GetType().Name}' is not supported");
        }
    }

    public static object? FromJson(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var p in e.EnumerateObject())
                {
                    dict[p.Name] = FromJson(p.Value);
                }

                return dict;
            case JsonValueKind.Array:
                return e.EnumerateArray().Select(FromJson).ToList();
            case JsonValueKind.String:
                return e.GetString();
            case JsonValueKind.Number:
                var raw = e.GetRawText();
                if (raw.IndexOfAny(['.', 'e', 'E']) < 0 && e.TryGetInt64(out var l))
                {
                    return l;
                }

                return e.GetDouble();
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            default:
                return null;
        }
    }

    private static Dictionary<string, object?> FromMessage(ChatMessage m)
    {
        var dict = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["role"] = m.Role,
            ["content"] = m.Content,
        };
        if (m.Name is not null)
        {
            dict["name"] = m.Name;
        }

        if (m.ToolCallId is not null)
        {
            dict["tool_call_id"] = m.ToolCallId;
        }

        if (m.ReasoningContent is not null)
        {
            dict["reasoning_content"] = m.ReasoningContent;
        }

        if (m.ToolCalls is not null)
        {
            dict["tool_calls"] = m.ToolCalls.Select(c => (object?)FromToolCall(c)).ToList();
        }

        return dict;
    }

    private static Dictionary<string, object?> FromToolCall(ChatToolCall c)
    {
        object? arguments = c.Arguments;
        try
        {
            using var doc = JsonDocument.Parse(c.Arguments);
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
            {
                arguments = FromJson(doc.RootElement);
            }
        }
        catch (JsonException)
        {
            // Not JSON: templates get the text as it came.
        }

        return new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["id"] = c.Id,
            ["type"] = "function",
            ["function"] = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["name"] = c.Name,
                ["arguments"] = arguments,
            },
        };
    }
}
