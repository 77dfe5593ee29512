using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Rbee.Worker.ChatTemplates;

/// <summary>jinja2's built-in filters (filters.py) that chat templates use, with Hugging Face's <c>tojson</c>.</summary>
internal static partial class TemplateFilters
{
    private delegate object? Filter(object? value, CallArgs args);

    private static readonly Dictionary<string, Filter> All = new(StringComparer.Ordinal)
    {
        ["abs"] = (v, a) => { a.Accept(); return v switch { long l => (object)Math.Abs(l), double d => Math.Abs(d), bool b => b ? 1L : 0L, _ => throw Bad("abs", v) }; },
        ["attr"] = (v, a) => { a.Accept("name"); return TemplateMembers.GetAttr(v, Py.Str(a.Get(0, "name"))); },
        ["batch"] = Batch,
        ["capitalize"] = (v, a) => { a.Accept(); return TemplateMembers.Capitalize(Py.Str(v)); },
        ["center"] = (v, a) => { a.Accept("width"); return TemplateMembers.Center(Py.Str(v), (int)Py.ToLong(a.Get(0, "width", 80L)), " "); },
        ["count"] = Length,
        ["length"] = Length,
        ["default"] = Default,
        ["d"] = Default,
        ["dictsort"] = DictSort,
        ["escape"] = Escape,
        ["e"] = Escape,
        ["forceescape"] = Escape,
        ["first"] = (v, a) => { a.Accept(); var items = Py.Iterate(v); return items.Count > 0 ? items[0] : new Undefined("No first item, sequence was empty."); },
        ["last"] = (v, a) => { a.Accept(); var items = Py.Iterate(v); return items.Count > 0 ? items[^1] : new Undefined("No last item, sequence was empty."); },
        ["float"] = (v, a) => { a.Accept("default"); return ToFloat(Defined(v), a.Get(0, "default", 0.0)); },
        ["int"] = (v, a) => { a.Accept("default", "base"); return ToInt(Defined(v), a.Get(0, "default", 0L), (int)Py.ToLong(a.Get(1, "base", 10L))); },
        ["format"] = (v, a) => PrintfFormat(Py.Str(v), a.Positional, mappingLike: false),
        ["indent"] = Indent,
        ["items"] = (v, a) =>
        {
            a.Accept();
            return v switch
            {
                Undefined => new List<object?>(),
                Dictionary<string, object?> d => d.Select(p => (object?)new object?[] { p.Key, p.Value }).ToList(),
                _ => throw new TemplateRuntimeException("Can only get item pairs from a mapping."),
            };
        },
        ["join"] = Join,
        ["list"] = (v, a) => { a.Accept(); return Py.Iterate(v).ToList(); },
        ["lower"] = (v, a) => { a.Accept(); return Py.Str(v).ToLowerInvariant(); },
        ["upper"] = (v, a) => { a.Accept(); return Py.Str(v).ToUpperInvariant(); },
        ["title"] = (v, a) => { a.Accept(); return JinjaTitle(Py.Str(v)); },
        ["trim"] = (v, a) => { a.Accept("chars"); return Py.Strip(Py.Str(v), a.Get(0, "chars") as string, left: true, right: true); },
        ["replace"] = (v, a) =>
        {
            a.Accept("old", "new", "count");
            return TemplateMembers.Replace(Py.Str(v), Py.Str(a.Get(0, "old")), Py.Str(a.Get(1, "new")), a.Get(2, "count") is null ? -1 : Py.ToLong(a.Get(2, "count")));
        },
        ["reverse"] = (v, a) =>
        {
            a.Accept();
            return v is string s ? string.Concat(Py.Chars(s).Cast<string>().Reverse()) : Py.Iterate(v).Reverse().ToList();
        },
        ["round"] = Round,
        ["safe"] = (v, a) => { a.Accept(); return v; },
        ["string"] = (v, a) => { a.Accept(); return Py.Str(v); },
        ["pprint"] = (v, a) => { a.Accept(); return Py.Repr(v); },
        ["sum"] = Sum,
        ["min"] = (v, a) => MinMax(v, a, max: false),
        ["max"] = (v, a) => MinMax(v, a, max: true),
        ["sort"] = Sort,
        ["unique"] = Unique,
        ["tojson"] = ToJson,
        ["wordcount"] = (v, a) => { a.Accept(); return (long)WordRegex().Count(Py.Str(v)); },
        ["map"] = Map,
        ["select"] = (v, a) => Select(v, a, byAttribute: false, keep: true),
        ["reject"] = (v, a) => Select(v, a, byAttribute: false, keep: false),
        ["selectattr"] = (v, a) => Select(v, a, byAttribute: true, keep: true),
        ["rejectattr"] = (v, a) => Select(v, a, byAttribute: true, keep: false),
        ["striptags"] = (v, a) => { a.Accept(); return string.Join(' ', TagRegex().Replace(Py.Str(v), "").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)); },
        ["truncate"] = Truncate,
    };

    public static bool Exists(string name) => All.ContainsKey(name);

    public static object? Apply(string name, object? value, CallArgs args)
    {
        if (!All.TryGetValue(name, out var filter))
        {
            throw new TemplateRuntimeException($"unsupported filter '{name}'");
        }

        return filter(value, args);
    }

    private static object? Defined(object? v) => v is Undefined u ? throw new TemplateRuntimeException(u.Hint) : v;

    private static TemplateRuntimeException Bad(string filter, object? v) =>
        v is Undefined u ? new(u.Hint) : new($"filter '{filter}' cannot take a value of type '{Py.TypeName(v)}'");

    private static object? Default(object? v, CallArgs a)
    {
        a.Accept("default_value", "boolean");
        var boolean = Py.Truthy(a.Get(1, "boolean", false));
        var useDefault = v is Undefined || (boolean && !Py.Truthy(v));
        return useDefault ? a.Get(0, "default_value", "") : v;
    }

    private static object? Length(object? v, CallArgs a)
    {
        a.Accept();
        return (long)Py.Length(v);
    }

    private static object? Escape(object? v, CallArgs a)
    {
        a.Accept();
        var s = Py.Str(v);
        return s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
            .Replace(">", "&gt;", StringComparison.Ordinal).Replace("\"", "&#34;", StringComparison.Ordinal)
            .Replace("'", "&#39;", StringComparison.Ordinal);
    }

    /// <summary>jinja2's title: upper-case the first letter after '-', whitespace, '(', '{', '[' or '&lt;', lower the rest.</summary>
    private static string JinjaTitle(string s)
    {
        var parts = TitleSplitRegex().Split(s);
        var sb = new StringBuilder();
        foreach (var item in parts)
        {
            if (item.Length > 0)
            {
                sb.Append(char.ToUpperInvariant(item[0])).Append(item[1..].ToLowerInvariant());
            }
        }

        return sb.ToString();
    }

    private static object? ToFloat(object? v, object? fallback) => v switch
    {
        double d => d,
        long or bool => Py.ToDouble(v),
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
        _ => fallback,
    };

    private static object? ToInt(object? v, object? fallback, int numberBase)
    {
        switch (v)
        {
            case long or bool:
                return Py.ToLong(v);
            case double d:
                return double.IsFinite(d) ? (long)Math.Truncate(d) : fallback;
            case string s:
                var text = s.Trim().Replace("_", "", StringComparison.Ordinal);
                try
                {
                    if (numberBase == 10 && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
                    {
                        return l;
                    }

                    if (numberBase != 10)
                    {
                        return Convert.ToInt64(text, numberBase);
                    }
                }
                catch (FormatException)
                {
                    return fallback;
                }
                catch (ArgumentException)
                {
                    return fallback;
                }

                // jinja2 falls back to float parsing, then truncates: int("3.7") is 3.
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) && double.IsFinite(f) ? (long)Math.Truncate(f) : fallback;
            default:
                return fallback;
        }
    }

    private static object? Join(object? v, CallArgs a)
    {
        a.Accept("d", "attribute");
        var sep = Py.Str(a.Get(0, "d", ""));
        var items = Py.Iterate(v);
        var attribute = a.Get(1, "attribute");
        var getter = attribute is null ? null : AttributeGetter(attribute);
        return string.Join(sep, items.Select(x => Py.Str(getter is null ? x : getter(x))));
    }

    private static object? Indent(object? v, CallArgs a)
    {
        a.Accept("width", "first", "blank");
        var widthArg = a.Get(0, "width", 4L);
        var indention = widthArg is string w ? w : new string(' ', (int)Py.ToLong(widthArg));
        var first = Py.Truthy(a.Get(1, "first", false));
        var blank = Py.Truthy(a.Get(2, "blank", false));
        var s = v switch
        {
            string text => text,
            Undefined u => throw new TemplateRuntimeException(u.Hint),
            List<object?> or object?[] or Dictionary<string, object?> => throw new TemplateRuntimeException($"'{Py.TypeName(v)}' object has no attribute 'splitlines'"),
            _ => throw new TemplateRuntimeException($"unsupported operand type(s) for +=: '{Py.TypeName(v)}' and 'str'"),
        };
        s += "\n";
        var lines = s.Split('\n').ToList();
        lines.RemoveAt(lines.Count - 1);
        string rv;
        if (blank)
        {
            rv = string.Join("\n" + indention, lines);
        }
        else
        {
            rv = lines[0];
            if (lines.Count > 1)
            {
                rv += "\n" + string.Join("\n", lines.Skip(1).Select(l => l.Length > 0 ? indention + l : l));
            }
        }

        return first ? indention + rv : rv;
    }

    private static object? Round(object? v, CallArgs a)
    {
        a.Accept("precision", "method");
        var precision = (int)Py.ToLong(a.Get(0, "precision", 0L));
        var method = Py.Str(a.Get(1, "method", "common"));
        if (v is long or bool && method == "common")
        {
            return Py.ToLong(v);
        }

        var x = Py.ToDouble(v);
        var scale = Math.Pow(10, precision);
        return method switch
        {
            "common" => Math.Round(x, Math.Clamp(precision, 0, 15), MidpointRounding.ToEven),
            "ceil" => Math.Ceiling(x * scale) / scale,
            "floor" => Math.Floor(x * scale) / scale,
            _ => throw new TemplateRuntimeException("method must be common, ceil or floor"),
        };
    }

    private static object? Sum(object? v, CallArgs a)
    {
        a.Accept("attribute", "start");
        var getter = a.Get(0, "attribute") is { } attr ? AttributeGetter(attr) : null;
        var total = a.Get(1, "start", 0L);
        foreach (var item in Py.Iterate(v))
        {
            total = TemplateOperators.Binary("+", total, getter is null ? item : getter(item));
        }

        return total;
    }

    private static Func<object?, object?> SortKey(CallArgs a, int attributeIndex, bool caseSensitive)
    {
        var attr = a.Get(attributeIndex, "attribute");
        var getter = attr is null ? (Func<object?, object?>)(x => x) : AttributeGetter(attr);
        if (caseSensitive)
        {
            return getter;
        }

        return x =>
        {
            var k = getter(x);
            return k is string s ? s.ToLowerInvariant() : k;
        };
    }

    private static object? MinMax(object? v, CallArgs a, bool max)
    {
        a.Accept("case_sensitive", "attribute");
        var key = SortKey(a, 1, Py.Truthy(a.Get(0, "case_sensitive", false)));
        var items = Py.Iterate(v);
        if (items.Count == 0)
        {
            return new Undefined($"No aggregated item, sequence was empty.");
        }

        var best = items[0];
        var bestKey = key(best);
        foreach (var item in items.Skip(1))
        {
            var itemKey = key(item);
            var c = Py.Compare(itemKey, bestKey);
            if (max ? c > 0 : c < 0)
            {
                (best, bestKey) = (item, itemKey);
            }
        }

        return best;
    }

    private static object? Sort(object? v, CallArgs a)
    {
        a.Accept("reverse", "case_sensitive", "attribute");
        var reverse = Py.Truthy(a.Get(0, "reverse", false));
        var key = SortKey(a, 2, Py.Truthy(a.Get(1, "case_sensitive", false)));

        // Python's sort is stable, also when reversed; OrderBy is stable too, and takes each key once as Python does.
        var comparer = Comparer<object?>.Create((x, y) => reverse ? Py.Compare(y, x) : Py.Compare(x, y));
        return Py.Iterate(v).OrderBy(key, comparer).ToList();
    }

    private static object? DictSort(object? v, CallArgs a)
    {
        a.Accept("case_sensitive", "by", "reverse");
        if (v is not Dictionary<string, object?> d)
        {
            throw new TemplateRuntimeException("You can only sort by either \"key\" or \"value\"");
        }

        var caseSensitive = Py.Truthy(a.Get(0, "case_sensitive", false));
        var byValue = Py.Str(a.Get(1, "by", "key")) == "value";
        var reverse = Py.Truthy(a.Get(2, "reverse", false));
        object? Key(KeyValuePair<string, object?> p)
        {
            var k = byValue ? p.Value : p.Key;
            return !caseSensitive && k is string s ? s.ToLowerInvariant() : k;
        }

        var sorted = d.OrderBy(Key, Comparer<object?>.Create((x, y) => reverse ? -Py.Compare(x, y) : Py.Compare(x, y)));
        return sorted.Select(p => (object?)new object?[] { p.Key, p.Value }).ToList();
    }

    private static object? Unique(object? v, CallArgs a)
    {
        a.Accept("case_sensitive", "attribute");
        var key = SortKey(a, 1, Py.Truthy(a.Get(0, "case_sensitive", false)));
        var seen = new List<object?>();
        var result = new List<object?>();
        foreach (var item in Py.Iterate(v))
        {
            var k = key(item);
            if (!seen.Any(s => Py.Equals(s, k)))
            {
                seen.Add(k);
                result.Add(item);
            }
        }

        return result;
    }

    /// <summary>Hugging Face's tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).</summary>
    private static object? ToJson(object? v, CallArgs a)
    {
        a.Accept("ensure_ascii", "indent", "separators", "sort_keys");
        var ensureAscii = Py.Truthy(a.Get(0, "ensure_ascii", false));
        var indentArg = a.Get(1, "indent");
        string? indent = indentArg switch
        {
            null => null,
            string s => s,
            long or bool => new string(' ', (int)Math.Max(0, Py.ToLong(indentArg))),
            Undefined u => throw new TemplateRuntimeException(u.Hint),
            _ => throw new TemplateRuntimeException("tojson indent must be an integer or a string"),
        };
        var itemSep = indent is null ? ", " : ",";
        var keySep = ": ";
        if (a.Get(2, "separators") is { } separators)
        {
            var pair = Py.Iterate(separators);
            if (pair.Count != 2 || pair[0] is not string i || pair[1] is not string k)
            {
                throw new TemplateRuntimeException("tojson separators must be a pair of strings");
            }

            (itemSep, keySep) = (i, k);
        }

        return PyJson.Dumps(v, ensureAscii, indent, itemSep, keySep, Py.Truthy(a.Get(3, "sort_keys", false)));
    }

    /// <summary>jinja2's make_attrgetter: "a.b.0" walks attributes and integer indexes.</summary>
    public static Func<object?, object?> AttributeGetter(object? attribute)
    {
        if (attribute is long or bool)
        {
            return x => TemplateMembers.GetItem(x, attribute);
        }

        var parts = Py.Str(attribute).Split('.').Select(p => long.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? (object?)n : p).ToArray();
        return x =>
        {
            foreach (var p in parts)
            {
                x = TemplateMembers.GetItem(x, p);
            }

            return x;
        };
    }

    private static object? Map(object? v, CallArgs a)
    {
        var items = Py.Iterate(v);
        if (a.Positional.Count == 0 && a.Named.ContainsKey("attribute"))
        {
            a.Accept("attribute", "default");
            var getter = AttributeGetter(a.Named["attribute"]);
            var hasDefault = a.Named.TryGetValue("default", out var fallback);
            return items.Select(x =>
            {
                var r = getter(x);
                return hasDefault && r is Undefined ? fallback : r;
            }).ToList();
        }

        if (a.Positional.Count == 0)
        {
            throw new TemplateRuntimeException("map requires a filter name or attribute=");
        }

        var name = Py.Str(a.Positional[0]);
        var rest = new CallArgs(name, a.Positional.Skip(1).ToList(), a.Named);
        return items.Select(x => Apply(name, x, rest)).ToList();
    }

    private static object? Select(object? v, CallArgs a, bool byAttribute, bool keep)
    {
        var items = Py.Iterate(v);
        var offset = 0;
        Func<object?, object?> getter = x => x;
        if (byAttribute)
        {
            if (a.Positional.Count == 0)
            {
                throw new TemplateRuntimeException("selectattr/rejectattr require an attribute name");
            }

            getter = AttributeGetter(a.Positional[0]);
            offset = 1;
        }

        Func<object?, bool> test;
        if (a.Positional.Count <= offset)
        {
            test = Py.Truthy;
        }
        else
        {
            var testName = Py.Str(a.Positional[offset]);
            var testArgs = new CallArgs(testName, a.Positional.Skip(offset + 1).ToList(), a.Named);
            test = x => TemplateTests.Apply(testName, x, testArgs);
        }

        return items.Where(x => test(getter(x)) == keep).ToList();
    }

    private static object? Batch(object? v, CallArgs a)
    {
        a.Accept("linecount", "fill_with");
        var size = (int)Py.ToLong(a.Get(0, "linecount"));
        if (size <= 0)
        {
            throw new TemplateRuntimeException("batch size must be positive");
        }

        var fill = a.Has(1, "fill_with") ? a.Get(1, "fill_with") : null;
        var result = new List<object?>();
        List<object?>? current = null;
        foreach (var item in Py.Iterate(v))
        {
            current ??= [];
            current.Add(item);
            if (current.Count == size)
            {
                result.Add(current);
                current = null;
            }
        }

        if (current is not null)
        {
            if (a.Has(1, "fill_with"))
            {
                while (current.Count < size)
                {
                    current.Add(fill);
                }
            }

            result.Add(current);
        }

        return result;
    }

    private static object? Truncate(object? v, CallArgs a)
    {
        a.Accept("length", "killwords", "end", "leeway");
        var s = Py.Str(v);
        var length = (int)Py.ToLong(a.Get(0, "length", 255L));
        var killwords = Py.Truthy(a.Get(1, "killwords", false));
        var end = Py.Str(a.Get(2, "end", "..."));
        var leeway = (int)Py.ToLong(a.Get(3, "leeway", 5L));
        if (s.Length <= length + leeway)
        {
            return s;
        }

        if (killwords)
        {
            return s[..Math.Max(0, length - end.Length)] + end;
        }

        var cut = s[..Math.Max(0, length - end.Length)];
        var space = cut.LastIndexOf(' ');
        return (space >= 0 ? cut[..space] : cut) + end;
    }

    /// <summary>
    /// Python's printf-style <c>format % values</c> (the <c>format</c> filter and the <c>%</c> operator) with %s, %d,
    /// %i, %r, %f and %%; a mapping-like right side (list, dict) may go unused, as in Python.
    /// </summary>
    public static string PrintfFormat(string format, List<object?> values, bool mappingLike)
    {
        var next = 0;
        var sb = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                sb.Append(format[i]);
                continue;
            }

            var spec = format[++i];
            if (spec == '%')
            {
                sb.Append('%');
                continue;
            }

            if (next >= values.Count || mappingLike)
            {
                throw new TemplateRuntimeException(mappingLike ? "format requires a mapping" : "not enough arguments for format string");
            }

            var value = values[next++];
            sb.Append(spec switch
            {
                's' => Py.Str(value),
                'r' => Py.Repr(value),
                'd' or 'i' => Py.ToLong(value).ToString(CultureInfo.InvariantCulture), // a float truncates toward zero
                'f' => Py.ToDouble(value).ToString("F6", CultureInfo.InvariantCulture),
                _ => throw new TemplateRuntimeException($"unsupported format character '{spec}'"),
            });
        }

        if (next < values.Count && !mappingLike)
        {
            throw new TemplateRuntimeException("not all arguments converted during string formatting");
        }

        return sb.ToString();
    }

    [GeneratedRegex(@"\w+")]
    private static partial Regex WordRegex();

    [GeneratedRegex(@"([-\s({\[<]+)")]
    private static partial Regex TitleSplitRegex();

    [GeneratedRegex(@"(<!--.*?-->|<[^>]*>)", RegexOptions.Singleline)]
    private static partial Regex TagRegex();
}
