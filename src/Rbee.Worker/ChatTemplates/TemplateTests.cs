namespace Rbee.Worker.ChatTemplates;

/// <summary>jinja2's tests (tests.py): what <c>x is name</c> and select/reject run.</summary>
internal static class TemplateTests
{
    private delegate bool Test(object? value, CallArgs args);

    private static readonly Dictionary<string, Test> All = new(StringComparer.Ordinal)
    {
        ["defined"] = (v, a) => { a.Accept(); return v is not Undefined; },
        ["undefined"] = (v, a) => { a.Accept(); return v is Undefined; },
        ["none"] = (v, a) => { a.Accept(); return v is null; },
        ["string"] = (v, a) => { a.Accept(); return v is string; },
        ["mapping"] = (v, a) => { a.Accept(); return v is Dictionary<string, object?>; },

        // Python's iter() and jinja2's sequence test accept strings, lists, tuples, dicts, and Undefined.
        ["iterable"] = Iterable,
        ["sequence"] = Iterable,
        ["number"] = (v, a) => { a.Accept(); return v is long or double or bool; },
        ["integer"] = (v, a) => { a.Accept(); return v is long; },
        ["float"] = (v, a) => { a.Accept(); return v is double; },
        ["boolean"] = (v, a) => { a.Accept(); return v is bool; },
        ["true"] = (v, a) => { a.Accept(); return v is true; },
        ["false"] = (v, a) => { a.Accept(); return v is false; },
        ["callable"] = (v, a) => { a.Accept(); return v is TemplateCallable; },
        // jinja2 computes these with Python's %, so floats are accepted: 2.5 is neither odd nor even.
        ["odd"] = (v, a) => { a.Accept(); return Py.Equals(TemplateOperators.Binary("%", v, 2L), 1L); },
        ["even"] = (v, a) => { a.Accept(); return Py.Equals(TemplateOperators.Binary("%", v, 2L), 0L); },
        ["divisibleby"] = (v, a) => { a.Accept("num"); return Py.Equals(TemplateOperators.Binary("%", v, a.Get(0, "num")), 0L); },
        ["lower"] = (v, a) => { a.Accept(); var s = Py.Str(v); return s.Any(char.IsLetter) && !s.Any(char.IsUpper); },
        ["upper"] = (v, a) => { a.Accept(); var s = Py.Str(v); return s.Any(char.IsLetter) && !s.Any(char.IsLower); },
        ["escaped"] = (v, a) => { a.Accept(); return false; },
        ["sameas"] = (v, a) =>
        {
            a.Accept("other");
            var other = a.Get(0, "other");
            return v is null or bool ? Equals(v, other) && (other is null or bool) : ReferenceEquals(v, other);
        },
        ["in"] = (v, a) => { a.Accept("seq"); return TemplateOperators.Contains(a.Get(0, "seq"), v); },
        ["eq"] = Cmp("=="),
        ["equalto"] = Cmp("=="),
        ["=="] = Cmp("=="),
        ["ne"] = Cmp("!="),
        ["!="] = Cmp("!="),
        ["lt"] = Cmp("<"),
        ["lessthan"] = Cmp("<"),
        ["<"] = Cmp("<"),
        ["le"] = Cmp("<="),
        ["<="] = Cmp("<="),
        ["gt"] = Cmp(">"),
        ["greaterthan"] = Cmp(">"),
        [">"] = Cmp(">"),
        ["ge"] = Cmp(">="),
        [">="] = Cmp(">="),
        ["filter"] = (v, a) => { a.Accept(); return v is string s && TemplateFilters.Exists(s); },
        ["test"] = (v, a) => { a.Accept(); return v is string s && Exists(s); },
    };

    public static bool Exists(string name) => All.ContainsKey(name);

    public static bool Apply(string name, object? value, CallArgs args)
    {
        if (!All.TryGetValue(name, out var test))
        {
            throw new TemplateRuntimeException($"unsupported test '{name}'");
        }

        return test(value, args);
    }

    private static bool Iterable(object? v, CallArgs a)
    {
        a.Accept();
        return v is string or List<object?> or object?[] or Dictionary<string, object?> or Undefined;
    }

    private static Test Cmp(string op) => (v, a) =>
    {
        a.Accept("other");
        return TemplateOperators.Compare(op, v, a.Get(0, "other"));
    };
}
