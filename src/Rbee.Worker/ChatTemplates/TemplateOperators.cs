namespace Rbee.Worker.ChatTemplates;

/// <summary>Python's arithmetic, concatenation, comparison and membership, as jinja2 compiles them.</summary>
internal static class TemplateOperators
{
    public static object? Binary(string op, object? a, object? b)
    {
        if (op == "~")
        {
            var (x, y) = (Py.Str(a), Py.Str(b));
            TemplateLimits.CheckString((long)x.Length + y.Length);
            return x + y;
        }

        if (a is Undefined ua)
        {
            throw new TemplateRuntimeException(ua.Hint);
        }

        if (b is Undefined ub && !(op == "%" && a is string))
        {
            throw new TemplateRuntimeException(ub.Hint);
        }

        switch (op)
        {
            case "+":
                if (a is string sa && b is string sb)
                {
                    TemplateLimits.CheckString((long)sa.Length + sb.Length);
                    return sa + sb;
                }

                if (a is List<object?> la && b is List<object?> lb)
                {
                    TemplateLimits.CheckItems((long)la.Count + lb.Count);
                    return la.Concat(lb).ToList();
                }

                if (a is object?[] ta && b is object?[] tb)
                {
                    TemplateLimits.CheckItems((long)ta.Length + tb.Length);
                    return ta.Concat(tb).ToArray();
                }

                return Arithmetic(op, a, b, (x, y) => checked(x + y), (x, y) => x + y);
            case "-":
                return Arithmetic(op, a, b, (x, y) => checked(x - y), (x, y) => x - y);
            case "*":
                // A sequence times an int repeats it, on either side.
                if ((a is string || Py.IsList(a)) && b is long or bool)
                {
                    return Repeat(a, Py.ToLong(b));
                }

                if (a is long or bool && (b is string || Py.IsList(b)))
                {
                    return Repeat(b, Py.ToLong(a));
                }

                return Arithmetic(op, a, b, (x, y) => checked(x * y), (x, y) => x * y);
            case "/":
                RequireNumbers(op, a, b);
                var divisor = Py.ToDouble(b);
                if (divisor == 0)
                {
                    throw new TemplateRuntimeException("division by zero");
                }

                return Py.ToDouble(a) / divisor;
            case "//":
                RequireNumbers(op, a, b);
                if (a is double || b is double)
                {
                    var y = Py.ToDouble(b);
                    if (y == 0)
                    {
                        throw new TemplateRuntimeException("float floor division by zero");
                    }

                    return FloatFloorDiv(Py.ToDouble(a), y);
                }
                else
                {
                    var x = Py.ToLong(a);
                    var y = Py.ToLong(b);
                    if (y == 0)
                    {
                        throw new TemplateRuntimeException("integer division or modulo by zero");
                    }

                    var q = x / y;
                    return (x % y != 0 && ((x < 0) ^ (y < 0))) ? q - 1 : q;
                }

            case "%":
                if (a is string format)
                {
                    // Python's printf-style formatting: a tuple spreads, lists, dicts (and Undefined) count as a mapping.
                    return b switch
                    {
                        object?[] t => TemplateFilters.PrintfFormat(format, [.. t], mappingLike: false),
                        List<object?> or Dictionary<string, object?> or Undefined => TemplateFilters.PrintfFormat(format, [b], mappingLike: true),
                        _ => TemplateFilters.PrintfFormat(format, [b], mappingLike: false),
                    };
                }

                RequireNumbers(op, a, b);
                if (a is double || b is double)
                {
                    var x = Py.ToDouble(a);
                    var y = Py.ToDouble(b);
                    if (y == 0)
                    {
                        throw new TemplateRuntimeException("float modulo");
                    }

                    var r = x % y;
                    return r != 0 && ((r < 0) ^ (y < 0)) ? r + y : r;
                }
                else
                {
                    var x = Py.ToLong(a);
                    var y = Py.ToLong(b);
                    if (y == 0)
                    {
                        throw new TemplateRuntimeException("integer division or modulo by zero");
                    }

                    var r = x % y;
                    return r != 0 && ((r < 0) ^ (y < 0)) ? r + y : r;
                }

            case "**":
                RequireNumbers(op, a, b);
                if (a is not double && b is not double && Py.ToLong(b) >= 0)
                {
                    long result = 1;
                    var bas = Py.ToLong(a);
                    for (var e = Py.ToLong(b); e > 0; e--)
                    {
                        result = checked(result * bas);
                    }

                    return result;
                }

                if (Py.ToDouble(a) == 0 && Py.ToDouble(b) < 0)
                {
                    throw new TemplateRuntimeException("0.0 cannot be raised to a negative power");
                }

                return Math.Pow(Py.ToDouble(a), Py.ToDouble(b));
            default:
                throw new TemplateRuntimeException($"unsupported operator '{op}'");
        }
    }

    /// <summary>CPython's float floor division (from fmod, not floor(a / b)): 2 // 0.1 is 19.0, as in Python.</summary>
    private static double FloatFloorDiv(double x, double y)
    {
        var mod = x % y; // C#'s % on doubles is C's fmod, as CPython uses.
        var div = (x - mod) / y;
        if (mod != 0 && ((y < 0) != (mod < 0)))
        {
            div -= 1.0;
        }

        if (div == 0)
        {
            return Math.CopySign(0.0, x / y);
        }

        var floor = Math.Floor(div);
        return div - floor > 0.5 ? floor + 1.0 : floor;
    }

    private static object Repeat(object? sequence, long times)
    {
        times = Math.Max(0, times);
        if (sequence is string s)
        {
            TemplateLimits.CheckString(s.Length == 0 ? 0 : s.Length * Math.Min(times, TemplateLimits.MaxStringChars + 1L));
            return string.Concat(Enumerable.Repeat(s, (int)times));
        }

        var items = ((IReadOnlyList<object?>)sequence!).ToList();
        TemplateLimits.CheckItems(items.Count == 0 ? 0 : items.Count * Math.Min(times, TemplateLimits.MaxListItems + 1L));
        var repeated = Enumerable.Repeat(items, (int)Math.Max(0, times)).SelectMany(x => x);
        return sequence is object?[] ? repeated.ToArray() : repeated.ToList();
    }

    private static void RequireNumbers(string op, object? a, object? b)
    {
        if (!Py.IsNumber(a) || !Py.IsNumber(b))
        {
            throw new TemplateRuntimeException($"unsupported operand type(s) for {op}: '{Py.TypeName(a)}' and '{Py.TypeName(b)}'");
        }
    }

    private static object Arithmetic(string op, object? a, object? b, Func<long, long, long> onLong, Func<double, double, double> onDouble)
    {
        if (a is string && op == "+")
        {
            throw new TemplateRuntimeException($"can only concatenate str (not \"{Py.TypeName(b)}\") to str");
        }

        RequireNumbers(op, a, b);
        if (a is double || b is double)
        {
            return onDouble(Py.ToDouble(a), Py.ToDouble(b));
        }

        try
        {
            return onLong(Py.ToLong(a), Py.ToLong(b));
        }
        catch (OverflowException)
        {
            throw new TemplateRuntimeException("integer overflow (integers beyond 64 bits are not supported)");
        }
    }

    public static object? Negate(object? v) => v switch
    {
        // Arms are boxed one by one: a switch over long and double would otherwise widen ints to double.
        long l => (object)(-l),
        bool b => b ? -1L : 0L,
        double d => -d,
        Undefined u => throw new TemplateRuntimeException(u.Hint),
        _ => throw new TemplateRuntimeException($"bad operand type for unary -: '{Py.TypeName(v)}'"),
    };

    public static object? Plus(object? v) => v switch
    {
        long or double => v,
        bool b => b ? 1L : 0L,
        Undefined u => throw new TemplateRuntimeException(u.Hint),
        _ => throw new TemplateRuntimeException($"bad operand type for unary +: '{Py.TypeName(v)}'"),
    };

    public static bool Compare(string op, object? a, object? b) => op switch
    {
        "==" => Py.Equals(a, b),
        "!=" => !Py.Equals(a, b),
        "<" => Py.Compare(a, b, op) < 0,
        "<=" => Py.Compare(a, b, op) <= 0,
        ">" => Py.Compare(a, b, op) > 0,
        ">=" => Py.Compare(a, b, op) >= 0,
        "in" => Contains(b, a),
        "notin" => !Contains(b, a),
        _ => throw new TemplateRuntimeException($"unsupported comparison '{op}'"),
    };

    /// <summary>Python's <c>item in container</c>.</summary>
    public static bool Contains(object? container, object? item)
    {
        switch (container)
        {
            case string s:
                if (item is not string sub)
                {
                    throw new TemplateRuntimeException($"'in <string>' requires string as left operand, not {Py.TypeName(item)}");
                }

                return s.Contains(sub, StringComparison.Ordinal);
            case List<object?> or object?[]:
                return ((IReadOnlyList<object?>)container).Any(x => Py.Equals(x, item));
            case Dictionary<string, object?> d:
                if (item is List<object?> or Dictionary<string, object?>)
                {
                    throw new TemplateRuntimeException($"unhashable type: '{Py.TypeName(item)}'");
                }

                return item is string key && d.ContainsKey(key);
            case Undefined:
                // jinja2's Undefined iterates as empty, so membership is simply false.
                return false;
            default:
                throw new TemplateRuntimeException($"argument of type '{Py.TypeName(container)}' is not iterable");
        }
    }
}

/// <summary>
/// Bounds on what one render may do. A chat template comes from the model file, not from us: a loop that would run
/// for hours or a value that would fill memory must fail the request with a clear error, as jinja2's sandbox refuses
/// long ranges. Real templates stay far below (a thousand-message conversation takes tens of thousands of steps).
/// </summary>
internal static class TemplateLimits
{
    /// <summary>Statements and expressions evaluated in one render.</summary>
    public const long MaxSteps = 10_000_000;

    /// <summary>Characters of any string, the output included.</summary>
    public const int MaxStringChars = 8 << 20;

    /// <summary>Items of any list or tuple.</summary>
    public const int MaxListItems = 1 << 20;

    public static void CheckString(long chars)
    {
        if (chars > MaxStringChars) throw new TemplateRuntimeException($"a string of {chars} characters is past the template limit of {MaxStringChars}");
    }

    public static void CheckItems(long items)
    {
        if (items > MaxListItems) throw new TemplateRuntimeException($"a list of {items} items is past the template limit of {MaxListItems}");
    }
}
