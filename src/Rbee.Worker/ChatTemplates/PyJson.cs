using System.Globalization;
using System.Text;

namespace Rbee.Worker.ChatTemplates;

/// <summary>
/// Python's <c>json.dumps</c>, the function behind Hugging Face's <c>tojson</c>: default separators
/// <c>", "</c>/<c>": "</c> (<c>","</c> between items once <c>indent</c> is set), insertion key order,
/// float repr, and only <c>" \ </c> and control characters escaped unless <c>ensure_ascii</c>.
/// </summary>
internal static class PyJson
{
    public static string Dumps(object? value, bool ensureAscii, string? indent, string itemSeparator, string keySeparator, bool sortKeys)
    {
        var sb = new StringBuilder();
        Write(sb, value, ensureAscii, indent, itemSeparator, keySeparator, sortKeys, 0);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, object? value, bool ascii, string? indent, string itemSep, string keySep, bool sortKeys, int level)
    {
        switch (value)
        {
            case null:
                sb.Append("null");
                break;
            case bool b:
                sb.Append(b ? "true" : "false");
                break;
            case long l:
                sb.Append(l.ToString(CultureInfo.InvariantCulture));
                break;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : Py.FloatRepr(d));
                break;
            case string s:
                WriteString(sb, s, ascii);
                break;
            case List<object?> or object?[]:
                var list = (IReadOnlyList<object?>)value;
                if (list.Count == 0)
                {
                    sb.Append("[]");
                    break;
                }

                sb.Append('[');
                for (var i = 0; i < list.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(itemSep);
                    }

                    NewLine(sb, indent, level + 1);
                    Write(sb, list[i], ascii, indent, itemSep, keySep, sortKeys, level + 1);
                }

                NewLine(sb, indent, level);
                sb.Append(']');
                break;
            case Dictionary<string, object?> dict:
                if (dict.Count == 0)
                {
                    sb.Append("{}");
                    break;
                }

                sb.Append('{');
                IEnumerable<KeyValuePair<string, object?>> pairs = sortKeys
                    ? dict.OrderBy(p => p.Key, StringComparer.Ordinal)
                    : dict;
                var first = true;
                foreach (var (k, v) in pairs)
                {
                    if (!first)
                    {
                        sb.Append(itemSep);
                    }

                    first = false;
                    NewLine(sb, indent, level + 1);
                    WriteString(sb, k, ascii);
                    sb.Append(keySep);
                    Write(sb, v, ascii, indent, itemSep, keySep, sortKeys, level + 1);
                }

                NewLine(sb, indent, level);
                sb.Append('}');
                break;
            default:
                throw new TemplateRuntimeException($"Object of type {Py.TypeName(value)} is not JSON serializable");
        }
    }

    private static void NewLine(StringBuilder sb, string? indent, int level)
    {
        if (indent is null)
        {
            return;
        }

        sb.Append('\n');
        for (var i = 0; i < level; i++)
        {
            sb.Append(indent);
        }
    }

    private static void WriteString(StringBuilder sb, string s, bool ascii)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ascii && c > 0x7e))
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append('"');
    }
}
