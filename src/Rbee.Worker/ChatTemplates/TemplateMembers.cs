using System.Text;

namespace Rbee.Worker.ChatTemplates;

/// <summary>
/// Attribute and item access as jinja2's sandbox does it: <c>x.name</c> tries the Python attribute (a method
/// such as <c>str.strip</c> or <c>dict.items</c>) then the item; <c>x[key]</c> tries the item then the
/// attribute; what is missing is Undefined. Methods that mutate are refused, as in the immutable sandbox.
/// </summary>
internal static class TemplateMembers
{
    private static readonly HashSet<string> StringMethods =
    [
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower",
        "title", "capitalize", "swapcase", "casefold", "replace", "format", "join", "find", "rfind", "index", "rindex", "count",
        "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "isnumeric", "isdecimal", "center", "ljust", "rjust",
        "zfill", "removeprefix", "removesuffix", "partition", "rpartition",
    ];

    private static readonly HashSet<string> DictMethods = ["get", "items", "keys", "values", "copy"];

    private static readonly HashSet<string> ListMethods = ["index", "count", "copy"];

    private static readonly HashSet<string> MutatingMethods =
        ["append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse", "update", "setdefault", "popitem"];

    public static object? GetAttr(object? obj, string name)
    {
        switch (obj)
        {
            case Undefined u:
                throw new TemplateRuntimeException(u.Hint);
            case Dictionary<string, object?> d:
                if (DictMethods.Contains(name))
                {
                    return new BuiltinFunction($"dict.{name}", args => CallDictMethod(d, name, args));
                }

                if (d.TryGetValue(name, out var v))
                {
                    return v;
                }

                return Missing(obj, name);
            case string s:
                return StringMethods.Contains(name)
                    ? new BuiltinFunction($"str.{name}", args => CallStringMethod(s, name, args))
                    : Missing(obj, name);
            case List<object?> or object?[]:
                return ListMethods.Contains(name)
                    ? new BuiltinFunction($"{Py.TypeName(obj)}.{name}", args => CallListMethod((IReadOnlyList<object?>)obj, name, args))
                    : Missing(obj, name);
            case TemplateNamespace ns:
                return ns.Attributes.TryGetValue(name, out var a) ? a : Missing(obj, name);
            case LoopContext loop:
                return loop.Get(name);
            default:
                return Missing(obj, name);
        }
    }

    private static Undefined Missing(object? obj, string name)
    {
        if (MutatingMethods.Contains(name) && obj is List<object?> or object?[] or Dictionary<string, object?>)
        {
            return new Undefined($"access to attribute '{name}' of '{Py.TypeName(obj)}' object is unsafe.");
        }

        return new Undefined($"{Py.Repr(ObjectTypeRepr(obj))} has no attribute {Py.Repr(name)}");
    }

    /// <summary>jinja2's message for a missing item with a non-string key, e.g. "list object has no element 5".</summary>
    private static Undefined MissingElement(object? obj, object? key) =>
        key is string name ? Missing(obj, name) : new Undefined($"{ObjectTypeRepr(obj)} has no element {Py.Repr(key)}");

    /// <summary>jinja2's object_type_repr: "None", or "dict object" for built-in types.</summary>
    private static string ObjectTypeRepr(object? obj) => obj switch
    {
        null => "None",
        TemplateNamespace => "jinja2.utils.Namespace object",
        LoopContext => "jinja2.runtime.LoopContext object",
        _ => $"{Py.TypeName(obj)} object",
    };

    public static object? GetItem(object? obj, object? key)
    {
        switch (obj)
        {
            case Undefined u:
                throw new TemplateRuntimeException(u.Hint);
            case Dictionary<string, object?> d:
                if (key is string k)
                {
                    return d.TryGetValue(k, out var v) ? v : GetAttr(obj, k);
                }

                return MissingElement(obj, key);
            case List<object?> or object?[] when key is long or bool:
                var list = (IReadOnlyList<object?>)obj;
                var i = Py.ToLong(key);
                if (i < 0)
                {
                    i += list.Count;
                }

                return i >= 0 && i < list.Count ? list[(int)i] : MissingElement(obj, key);
            case string s when key is long or bool:
                var chars = Py.HasSurrogates(s) ? Py.Chars(s) : null;
                var n = chars?.Count ?? s.Length;
                var j = Py.ToLong(key);
                if (j < 0)
                {
                    j += n;
                }

                if (j < 0 || j >= n)
                {
                    return MissingElement(obj, key);
                }

                return chars is null ? s[(int)j].ToString() : chars[(int)j];
            default:
                return key is string name ? GetAttr(obj, name) : MissingElement(obj, key);
        }
    }

    /// <summary>Python's <c>seq[start:stop:step]</c> on lists, tuples and strings.</summary>
    public static object? Slice(object? obj, object? start, object? stop, object? step)
    {
        if (obj is Undefined u)
        {
            throw new TemplateRuntimeException(u.Hint);
        }

        IReadOnlyList<object?> items = obj switch
        {
            List<object?> l => l,
            object?[] t => t,
            string s => Py.Chars(s),
            _ => throw new TemplateRuntimeException($"'{Py.TypeName(obj)}' object is not subscriptable"),
        };

        var indices = SliceIndices(items.Count, start, stop, step);
        var picked = indices.Select(i => items[i]);
        return obj switch
        {
            string => string.Concat(picked.Cast<string>()),
            object?[] => picked.ToArray(),
            _ => picked.ToList(),
        };
    }

    private static long? SliceBound(object? v) => v switch
    {
        null => null,
        long or bool => Py.ToLong(v),
        Undefined u => throw new TemplateRuntimeException(u.Hint),
        _ => throw new TemplateRuntimeException("slice indices must be integers or None"),
    };

    public static List<int> SliceIndices(int length, object? startObj, object? stopObj, object? stepObj)
    {
        var step = SliceBound(stepObj) ?? 1;
        if (step == 0)
        {
            throw new TemplateRuntimeException("slice step cannot be zero");
        }

        long lower = step < 0 ? -1 : 0;
        long upper = step < 0 ? length - 1 : length;
        long Clamp(long? v, long fallback)
        {
            if (v is null)
            {
                return fallback;
            }

            var x = v.Value < 0 ? v.Value + length : v.Value;
            return x < lower ? lower : x > upper ? upper : x;
        }

        var start = Clamp(SliceBound(startObj), step < 0 ? upper : lower);
        var stop = Clamp(SliceBound(stopObj), step < 0 ? lower : upper);
        var result = new List<int>();
        for (var i = start; step > 0 ? i < stop : i > stop; i += step)
        {
            result.Add((int)i);
        }

        return result;
    }

    private static object? CallDictMethod(Dictionary<string, object?> d, string name, CallArgs args)
    {
        switch (name)
        {
            case "get":
                args.Accept("key", "default");
                return args.Get(0, "key") is string key && d.TryGetValue(key, out var v) ? v : args.Get(1, "default");
            case "items":
                args.Accept();
                return d.Select(p => (object?)new object?[] { p.Key, p.Value }).ToList();
            case "keys":
                args.Accept();
                return d.Keys.Cast<object?>().ToList();
            case "values":
                args.Accept();
                return d.Values.ToList();
            default:
                args.Accept();
                return new Dictionary<string, object?>(d, StringComparer.Ordinal);
        }
    }

    private static object? CallListMethod(IReadOnlyList<object?> list, string name, CallArgs args)
    {
        switch (name)
        {
            case "index":
                args.Accept("value");
                for (var i = 0; i < list.Count; i++)
                {
                    if (Py.Equals(list[i], args.Get(0, "value")))
                    {
                        return (long)i;
                    }
                }

                throw new TemplateRuntimeException($"{Py.Repr(args.Get(0, "value"))} is not in list");
            case "count":
                args.Accept("value");
                return (long)list.Count(x => Py.Equals(x, args.Get(0, "value")));
            default:
                args.Accept();
                return list.ToList();
        }
    }

    private static string Arg(CallArgs args, int index, string name)
    {
        var v = args.Get(index, name);
        return v as string ?? throw new TemplateRuntimeException($"{args.Callee}() argument must be str, not {Py.TypeName(v)}");
    }

    private static string? OptionalChars(CallArgs args)
    {
        var v = args.Get(0, "chars");
        return v switch
        {
            null => null,
            string s => s,
            _ => throw new TemplateRuntimeException($"{args.Callee}() arg must be None or str"),
        };
    }

    private static object? CallStringMethod(string s, string name, CallArgs args)
    {
        switch (name)
        {
            case "strip":
                args.Accept("chars");
                return Py.Strip(s, OptionalChars(args), left: true, right: true);
            case "lstrip":
                args.Accept("chars");
                return Py.Strip(s, OptionalChars(args), left: true, right: false);
            case "rstrip":
                args.Accept("chars");
                return Py.Strip(s, OptionalChars(args), left: false, right: true);
            case "split":
            case "rsplit":
                args.Accept("sep", "maxsplit");
                return Split(s, args.Get(0, "sep") as string, Py.ToLong(args.Get(1, "maxsplit", -1L)), name == "rsplit");
            case "splitlines":
                args.Accept("keepends");
                var lines = s.Split('\n').ToList();
                if (lines.Count > 0 && lines[^1].Length == 0)
                {
                    lines.RemoveAt(lines.Count - 1);
                }

                return lines.Select(l => (object?)l.TrimEnd('\r')).ToList();
            case "startswith":
            case "endswith":
                args.Accept("prefix", "start", "end");
                var probe = args.Get(0, "prefix");
                var candidates = probe switch
                {
                    string p => [p],
                    object?[] t => t.Select(x => x as string ?? throw new TemplateRuntimeException($"{name} first arg must be str or a tuple of str")).ToArray(),
                    _ => throw new TemplateRuntimeException($"{name} first arg must be str or a tuple of str, not {Py.TypeName(probe)}"),
                };
                return name == "startswith"
                    ? candidates.Any(c => s.StartsWith(c, StringComparison.Ordinal))
                    : candidates.Any(c => s.EndsWith(c, StringComparison.Ordinal));
            case "upper":
                args.Accept();
                return s.ToUpperInvariant();
            case "lower":
            case "casefold":
                args.Accept();
                return s.ToLowerInvariant();
            case "swapcase":
                args.Accept();
                return string.Concat(s.Select(c => char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)));
            case "title":
                args.Accept();
                return PyTitle(s);
            case "capitalize":
                args.Accept();
                return Capitalize(s);
            case "replace":
                args.Accept("old", "new", "count");
                return Replace(s, Arg(args, 0, "old"), Arg(args, 1, "new"), Py.ToLong(args.Get(2, "count", -1L)));
            case "format":
                return Format(s, args);
            case "join":
                args.Accept("iterable");
                return string.Join(s, Py.Iterate(args.Get(0, "iterable")).Select(x => x as string ?? throw new TemplateRuntimeException($"sequence item: expected str instance, {Py.TypeName(x)} found")));
            case "find":
            case "index":
                args.Accept("sub");
                var at = s.IndexOf(Arg(args, 0, "sub"), StringComparison.Ordinal);
                if (at < 0 && name == "index")
                {
                    throw new TemplateRuntimeException("substring not found");
                }

                return (long)at;
            case "rfind":
            case "rindex":
                args.Accept("sub");
                var last = s.LastIndexOf(Arg(args, 0, "sub"), StringComparison.Ordinal);
                if (last < 0 && name == "rindex")
                {
                    throw new TemplateRuntimeException("substring not found");
                }

                return (long)last;
            case "count":
                args.Accept("sub");
                var sub = Arg(args, 0, "sub");
                if (sub.Length == 0)
                {
                    return (long)(Py.Length(s) + 1);
                }

                long count = 0;
                for (var i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal))
                {
                    count++;
                }

                return count;
            case "isdigit":
            case "isnumeric":
            case "isdecimal":
                return s.Length > 0 && s.All(char.IsDigit);
            case "isalpha":
                return s.Length > 0 && s.All(char.IsLetter);
            case "isalnum":
                return s.Length > 0 && s.All(char.IsLetterOrDigit);
            case "isspace":
                return s.Length > 0 && s.All(Py.IsSpace);
            case "isupper":
                return s.Any(char.IsLetter) && !s.Any(char.IsLower);
            case "islower":
                return s.Any(char.IsLetter) && !s.Any(char.IsUpper);
            case "center":
            case "ljust":
            case "rjust":
                args.Accept("width", "fillchar");
                var width = (int)Py.ToLong(args.Get(0, "width"));
                var fill = args.Get(1, "fillchar", " ") as string ?? " ";
                if (name == "center")
                {
                    return Center(s, width, fill);
                }

                var padding = string.Concat(Enumerable.Repeat(fill, Math.Max(0, width - Py.Length(s))));
                return name == "ljust" ? s + padding : padding + s;
            case "zfill":
                args.Accept("width");
                var w = (int)Py.ToLong(args.Get(0, "width"));
                if (s.Length >= w)
                {
                    return s;
                }

                var signed = s.Length > 0 && s[0] is '+' or '-';
                return signed ? s[0] + new string('0', w - s.Length) + s[1..] : new string('0', w - s.Length) + s;
            case "removeprefix":
                args.Accept("prefix");
                var prefix = Arg(args, 0, "prefix");
                return s.StartsWith(prefix, StringComparison.Ordinal) ? s[prefix.Length..] : s;
            case "removesuffix":
                args.Accept("suffix");
                var suffix = Arg(args, 0, "suffix");
                return suffix.Length > 0 && s.EndsWith(suffix, StringComparison.Ordinal) ? s[..^suffix.Length] : s;
            case "partition":
            case "rpartition":
                args.Accept("sep");
                var sep = Arg(args, 0, "sep");
                var pos = name == "partition" ? s.IndexOf(sep, StringComparison.Ordinal) : s.LastIndexOf(sep, StringComparison.Ordinal);
                if (pos < 0)
                {
                    return name == "partition" ? new object?[] { s, "", "" } : new object?[] { "", "", s };
                }

                return new object?[] { s[..pos], sep, s[(pos + sep.Length)..] };
            default:
                throw new TemplateRuntimeException($"unsupported string method '{name}'");
        }
    }

    /// <summary>Python's str.capitalize, which jinja2's capitalize filter also is.</summary>
    public static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    /// <summary>Python's str.center, which jinja2's center filter also is.</summary>
    public static string Center(string s, int width, string fill)
    {
        var padding = Math.Max(0, width - Py.Length(s));

        // CPython centers with the odd pad on the right unless both the pad and the width are odd.
        var leftPad = (padding / 2) + (padding & width & 1);
        return string.Concat(Enumerable.Repeat(fill, leftPad)) + s + string.Concat(Enumerable.Repeat(fill, padding - leftPad));
    }

    public static string PyTitle(string s)
    {
        var sb = new StringBuilder(s.Length);
        var previousCased = false;
        foreach (var c in s)
        {
            sb.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsUpper(c) || char.IsLower(c);
        }

        return sb.ToString();
    }

    public static string Replace(string s, string old, string replacement, long count)
    {
        if (count < 0)
        {
            return old.Length == 0 ? PythonReplaceEmpty(s, replacement, long.MaxValue) : s.Replace(old, replacement, StringComparison.Ordinal);
        }

        if (old.Length == 0)
        {
            return PythonReplaceEmpty(s, replacement, count);
        }

        var sb = new StringBuilder();
        var from = 0;
        for (var n = 0; n < count; n++)
        {
            var at = s.IndexOf(old, from, StringComparison.Ordinal);
            if (at < 0)
            {
                break;
            }

            sb.Append(s, from, at - from).Append(replacement);
            from = at + old.Length;
        }

        return sb.Append(s, from, s.Length - from).ToString();
    }

    private static string PythonReplaceEmpty(string s, string replacement, long count)
    {
        // Python inserts the replacement before every character and at the end.
        var sb = new StringBuilder();
        long n = 0;
        foreach (var rune in s.EnumerateRunes())
        {
            if (n++ < count)
            {
                sb.Append(replacement);
            }

            sb.Append(rune.ToString());
        }

        if (n < count)
        {
            sb.Append(replacement);
        }

        return sb.ToString();
    }

    private static List<object?> Split(string s, string? sep, long maxSplit, bool fromRight)
    {
        var parts = new List<object?>();
        if (sep is null)
        {
            // Runs of whitespace separate; leading and trailing whitespace give no empty parts.
            var words = new List<string>();
            var i = 0;
            while (i < s.Length)
            {
                while (i < s.Length && Py.IsSpace(s[i]))
                {
                    i++;
                }

                if (i >= s.Length)
                {
                    break;
                }

                var start = i;
                while (i < s.Length && !Py.IsSpace(s[i]))
                {
                    i++;
                }

                words.Add(s[start..i]);
            }

            if (maxSplit < 0 || words.Count <= maxSplit + 1)
            {
                return words.Cast<object?>().ToList();
            }

            if (fromRight)
            {
                throw new TemplateRuntimeException("unsupported template construct: rsplit() with maxsplit and no separator");
            }

            // Keep the remainder after maxsplit words as one piece, starting at the next word.
            var rest = s.TrimStart();
            for (var k = 0; k < maxSplit; k++)
            {
                parts.Add(words[k]);
                rest = rest[words[k].Length..].TrimStart();
            }

            parts.Add(rest);
            return parts;
        }

        if (sep.Length == 0)
        {
            throw new TemplateRuntimeException("empty separator");
        }

        var pieces = s.Split(sep);
        if (maxSplit < 0 || pieces.Length <= maxSplit + 1)
        {
            return pieces.Cast<object?>().ToList();
        }

        var keep = (int)maxSplit;
        if (fromRight)
        {
            parts.Add(string.Join(sep, pieces[..^keep]));
            parts.AddRange(pieces[^keep..]);
        }
        else
        {
            parts.AddRange(pieces[..keep]);
            parts.Add(string.Join(sep, pieces[keep..]));
        }

        return parts;
    }

    /// <summary>str.format with {}, {0} and {name} fields; format specs and conversions are outside the subset.</summary>
    private static string Format(string s, CallArgs args)
    {
        var sb = new StringBuilder();
        var auto = 0;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '{' && i + 1 < s.Length && s[i + 1] == '{')
            {
                sb.Append('{');
                i++;
            }
            else if (c == '}' && i + 1 < s.Length && s[i + 1] == '}')
            {
                sb.Append('}');
                i++;
            }
            else if (c == '{')
            {
                var close = s.IndexOf('}', i);
                if (close < 0)
                {
                    throw new TemplateRuntimeException("Single '{' encountered in format string");
                }

                var field = s[(i + 1)..close];
                if (field.IndexOfAny([':', '!', '.', '[']) >= 0)
                {
                    throw new TemplateRuntimeException($"unsupported template construct: format field '{{{field}}}'");
                }

                object? value;
                if (field.Length == 0)
                {
                    value = auto < args.Positional.Count ? args.Positional[auto++] : throw new TemplateRuntimeException("Replacement index out of range");
                }
                else if (int.TryParse(field, out var index))
                {
                    value = index < args.Positional.Count ? args.Positional[index] : throw new TemplateRuntimeException($"Replacement index {index} out of range");
                }
                else
                {
                    value = args.Named.TryGetValue(field, out var named) ? named : throw new TemplateRuntimeException($"'{field}'");
                }

                sb.Append(Py.Str(value));
                i = close;
            }
            else if (c == '}')
            {
                throw new TemplateRuntimeException("Single '}' encountered in format string");
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }
}
