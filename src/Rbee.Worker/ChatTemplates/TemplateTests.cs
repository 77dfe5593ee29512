namespace Rbee.Worker.ChatTemplates;

/// <summary>jinja2's tests (tests.py): what <c>x is name</c> and select/reject run.</summary>
internal static class TemplateTests
{
    private delegate bool Test(TemplateInterpreter interpreter, object? value, CallArgs args);

    private static readonly Dictionary<string, Test> All = new(StringComparer.Ordinal)
    {
        ["defined"] = (_, v, a) => { a.Accept(); return v is not Undefined; },
        ["undefined"] = (_, v, a) => { a.Accept(); return v is Undefined; },
        ["none"] = (_, v, a) => { a.Accept(); return v is null; },
        ["string"] = (_, v, a) => { a.Accept(); return v is string; },
        ["mapping"] = (_, v, a) => { a.Accept(); return v is Dictionary<string, object?>; },

        // Python's iter() and jinja2's sequence test accept strings, lists, tuples, dicts, and Undefined.
        ["iterable"] = (_, v, a) => { a.Accept(); return v is string or List<object?> or object?[] or Dictionary<string, object?> or Undefined; },
        ["sequence"] = (_, v, a) => { a.Accept(); return v is string or List<object?> or object?[] or Dictionary<string, object?> or Undefined; },
        ["number"] = (_, v, a) => { a.Accept(); return v is long or double or bool; },
        ["integer"] = (_, v, a) => { a.Accept(); return v is long; },
        ["float"] = (_, v, a) => { a.Accept(); return v is double; },
        ["boolean"] = (_, v, a) => { a.Accept(); return v is bool; },
        ["true"] = (_, v, a) => { a.Accept(); return v is true; },
        ["false"] = (_, v, a) => { a.Accept(); return v is false; },
        ["callable"] = (_, v, a) => { a.Accept(); return v is TemplateCallable; },
        // jinja2 computes these with Python's %, so floats are accepted: 2.5 is neither odd nor even.
        ["odd"] = (_, v, a) => { a.Accept(); return Py.Equals(TemplateOperators.Binary("%", v, 2L), 1L); },
        ["even"] = (_, v, a) => { a.Accept(); return Py.Equals(TemplateOperators.Binary("%", v, 2L), 0L); },
        ["divisibleby"] = (_, v, a) => { a.Accept("num"); return Py.Equals(TemplateOperators.Binary("%", v, a.Get(0, "num")), 0L); },
        ["lower"] = (_, v, a) => { a.Accept(); var s = Py.Str(v); return s.Any(char.IsLetter) && !s.Any(char.IsUpper); },
        ["upper"] = (_, v, a) => { a.Accept(); var s = Py.Str(v); return s.Any(char.IsLetter) && !s.Any(char.IsLower); },
        ["escaped"] = (_, v, a) => { a.Accept(); return false; },
        ["sameas"] = (_, v, a) =>
        {
            a.Accept("other");
            var other = a.Get(0, "other");
            return v is null or bool ? Equals(v, other) && (other is null or bool) : ReferenceEquals(v, other);
        },
        ["in"] = (_, v, a) => { a.Accept("seq"); return TemplateOperators.Contains(a.Get(0, "seq"), v); },
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
        ["filter"] = (_, v, a) => { a.Accept(); return v is string s && TemplateFilters.Exists(s); },
        ["test"] = (_, v, a) => { a.Accept(); return v is string s && Exists(s); },
    };

    public static bool Exists(string name) => All.ContainsKey(name);

    public static bool Apply(TemplateInterpreter interpreter, string name, object? value, CallArgs args)
    {
        if (!All.TryGetValue(name, out var test))
        {
            throw new TemplateRuntimeException($"unsupported test '{name}'");
        }

        return test(interpreter, value, args);
    }

    private static Test Cmp(string op) => (_, v, a) =>
    {
        a.Accept("other");
        return TemplateOperators.Compare(op, v, a.Get(0, "other"));
    };
}
