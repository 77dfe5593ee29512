namespace Rbee.Worker.ChatTemplates;

/// <summary>Python's arithmetic, concatenation, comparison and membership, as jinja2 compiles them.</summary>
internal static class TemplateOperators
{
    public static object? Binary(string op, object? a, object? b)
    {
        if (op == "~")
        {
            return Py.Str(a) + Py.Str(b);
        }

        if (a is Undefined ua)
        {
            throw new TemplateRuntimeException(ua.Hint);
        }

        if (b is Undefined ub)
        {
            throw new TemplateRuntimeException(ub.Hint);
        }

        switch (op)
        {
            case "+":
                if (a is string sa && b is string sb)
                {
                    return sa + sb;
                }

                if (a is List<object?> la && b is List<object?> lb)
                {
                    return la.Concat(lb).ToList();
                }

                if (a is object?[] ta && b is object?[] tb)
                {
                    return ta.Concat(tb).ToArray();
                }

                return Arithmetic(op, a, b, (x, y) => checked(x + y), (x, y) => x + y);
            case "-":
                return Arithmetic(op, a, b, (x, y) => checked(x - y), (x, y) => x - y);
            case "*":
                if (a is string s1 && b is long or bool)
                {
                    return string.Concat(Enumerable.Repeat(s1, (int)Math.Max(0, Py.ToLong(b))));
                }

                if (a is long or bool && b is string s2)
                {
                    return string.Concat(Enumerable.Repeat(s2, (int)Math.Max(0, Py.ToLong(a))));
                }

                if (a is List<object?> l1 && b is long or bool)
                {
                    return Enumerable.Repeat(l1, (int)Math.Max(0, Py.ToLong(b))).SelectMany(x => x).ToList();
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

                    return Math.Floor(Py.ToDouble(a) / y);
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
                if (a is string)
                {
                    throw new TemplateRuntimeException("unsupported template construct: printf-style '%' string formatting (use the format filter)");
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

                return Math.Pow(Py.ToDouble(a), Py.ToDouble(b));
            default:
                throw new TemplateRuntimeException($"unsupported operator '{op}'");
        }
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
        long l => -l,
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
                return item is string key && d.ContainsKey(key);
            case Undefined:
                // jinja2's Undefined iterates as empty, so membership is simply false.
                return false;
            default:
                throw new TemplateRuntimeException($"argument of type '{Py.TypeName(container)}' is not iterable");
        }
    }
}
