namespace Rbee.Worker.ChatTemplates;

/// <summary>
/// Names every template sees: jinja2's <c>range</c>, <c>dict</c>, <c>namespace</c>, and the two Hugging Face
/// adds for chat templates, <c>raise_exception</c> and <c>strftime_now</c>.
/// </summary>
internal static class TemplateGlobals
{
    // jinja2's sandbox refuses ranges longer than this (MAX_RANGE).
    private const long MaxRange = 100_000;

    public static void Register(Scope scope, TemplateInterpreter interpreter)
    {
        scope.Set("range", new BuiltinFunction("range", Range));
        scope.Set("dict", new BuiltinFunction("dict", args => Merge(args, new Dictionary<string, object?>(StringComparer.Ordinal), "dict")));
        scope.Set("namespace", new BuiltinFunction("namespace", args =>
        {
            var ns = new TemplateNamespace();
            Merge(args, ns.Attributes, "namespace");
            return ns;
        }));
        scope.Set("raise_exception", new BuiltinFunction("raise_exception", args =>
        {
            args.Accept("message");
            throw new ChatTemplateException(Py.Str(args.Get(0, "message", "")), null, null, raisedByTemplate: true);
        }));
        scope.Set("strftime_now", new BuiltinFunction("strftime_now", args =>
        {
            args.Accept("format");
            var format = args.Get(0, "format") as string ?? throw new TemplateRuntimeException("strftime_now() argument must be str");
            return PyStrftime.Format(interpreter.Time.GetLocalNow().DateTime, format);
        }));
    }

    /// <summary><c>dict(...)</c> and <c>namespace(...)</c>: mappings given positionally, then keyword arguments, later ones winning.</summary>
    private static Dictionary<string, object?> Merge(CallArgs args, Dictionary<string, object?> into, string function)
    {
        foreach (var p in args.Positional)
        {
            if (p is not Dictionary<string, object?> src)
            {
                throw new TemplateRuntimeException($"{function}() takes a mapping or keyword arguments");
            }

            foreach (var (k, v) in src)
            {
                into[k] = v;
            }
        }

        foreach (var (k, v) in args.Named)
        {
            into[k] = v;
        }

        return into;
    }

    private static object? Range(CallArgs args)
    {
        args.Accept("start", "stop", "step");
        long start = 0;
        long stop;
        long step = 1;
        switch (args.Positional.Count)
        {
            case 1:
                stop = Py.ToLong(args.Positional[0]);
                break;
            case 2:
                start = Py.ToLong(args.Positional[0]);
                stop = Py.ToLong(args.Positional[1]);
                break;
            case 3:
                start = Py.ToLong(args.Positional[0]);
                stop = Py.ToLong(args.Positional[1]);
                step = Py.ToLong(args.Positional[2]);
                break;
            default:
                throw new TemplateRuntimeException("range expected 1 to 3 positional arguments");
        }

        if (step == 0)
        {
            throw new TemplateRuntimeException("range() arg 3 must not be zero");
        }

        var result = new List<object?>();
        for (var i = start; step > 0 ? i < stop : i > stop; i += step)
        {
            if (result.Count >= MaxRange)
            {
                throw new TemplateRuntimeException($"range too big, the sandbox allows at most {MaxRange} items");
            }

            result.Add(i);
        }

        return result;
    }
}
