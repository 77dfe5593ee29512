using Rbee.Worker.ChatTemplates;

namespace Rbee.Worker.Tests.ChatTemplates;

/// <summary>Errors: jinja2's runtime messages, and syntax or unsupported constructs named with line and column.</summary>
public sealed class ChatTemplateErrorTests
{
    private static string RenderText(string source) =>
        ChatTemplate.Parse(source).Render(
            new Dictionary<string, object?> { ["d"] = new Dictionary<string, object?> { ["a"] = 1, ["b"] = null } },
            TemplateClock.Stopped);

    /// <summary>Rows from Reference/reference_error_sources.json: jinja2 3.1.6 raised with this message.</summary>
    [Theory]
        [InlineData("line one\n{{ missing.attr }}", "'missing' is undefined", false)]
        [InlineData("{{ missing + 1 }}", "'missing' is undefined", false)]
        [InlineData("{{ 1 + 'a' }}", "unsupported operand type(s) for +: 'int' and 'str'", false)]
        [InlineData("{{ 'a' + 1 }}", "can only concatenate str (not \"int\") to str", false)]
        [InlineData("{{ none + 'x' }}", "unsupported operand type(s) for +: 'NoneType' and 'str'", false)]
        [InlineData("{{ d.nokey.deeper }}", "'dict object' has no attribute 'nokey'", false)]
        [InlineData("{{ [1][5].x }}", "list object has no element 5", false)]
        [InlineData("{{ missing() }}", "'missing' is undefined", false)]
        [InlineData("{{ 'x' in 1 }}", "argument of type 'int' is not iterable", false)]
        [InlineData("{{ 1 in 'abc' }}", "'in <string>' requires string as left operand, not int", false)]
        [InlineData("{{ 1 < 'a' }}", "'<' not supported between instances of 'int' and 'str'", false)]
        [InlineData("{{ 1 / 0 }}", "division by zero", false)]
        [InlineData("{{ [1].append(2) }}", "access to attribute 'append' of 'list' object is unsafe.", false)]
        [InlineData("{% for a, b in [[1, 2, 3]] %}{% endfor %}", "too many values to unpack (expected 2)", false)]
        [InlineData("{{ raise_exception('Roles must alternate') }}", "Roles must alternate", true)]
        [InlineData("{{ {'a': 1}|tojson(indent=missing) }}", "'missing' is undefined", false)]
        [InlineData("{{ missing|tojson }}", "Object of type Undefined is not JSON serializable", false)]
        [InlineData("{% set x = 1 %}{% set x.y = 2 %}", "cannot assign attribute on non-namespace object", false)]
        [InlineData("{{ 'abc'.nosuch() }}", "'str object' has no attribute 'nosuch'", false)]
        [InlineData("{% for x in none %}{% endfor %}", "'NoneType' object is not iterable", false)]
        [InlineData("{{ [1, 2]|indent(2) }}", "'list' object has no attribute 'splitlines'", false)]
        [InlineData("{{ true|indent(2) }}", "unsupported operand type(s) for +=: 'bool' and 'str'", false)]
        [InlineData("{{ missing|int }}", "'missing' is undefined", false)]
        [InlineData("{{ d.zz|float }}", "'dict object' has no attribute 'zz'", false)]
        [InlineData("{{ d in d }}", "unhashable type: 'dict'", false)]
        [InlineData("{{ '%s %s' % ('a',) }}", "not enough arguments for format string", false)]
        [InlineData("{{ '%s' % ('a', 'b') }}", "not all arguments converted during string formatting", false)]
        [InlineData("{{ []|max|indent }}", "No aggregated item, sequence was empty.", false)]
    public void Fails_where_jinja2_fails_with_its_message(string source, string jinjaMessage, bool raisedByTemplate)
    {
        var error = Assert.Throws<ChatTemplateException>(() => RenderText(source));
        Assert.StartsWith(jinjaMessage, error.Message, StringComparison.Ordinal);
        Assert.Equal(raisedByTemplate, error.RaisedByTemplate);
        Assert.NotNull(error.Line);
        Assert.NotNull(error.Column);
    }

    [Fact]
    public void Runtime_error_names_line_and_column_of_the_failing_access()
    {
        // Column 24 is the '.' of missing.attr: the access that needed a defined value.
        var error = Assert.Throws<ChatTemplateException>(() => RenderText("line one\n  {{ 'ok' }} {{ missing.attr }}"));
        Assert.Equal(2, error.Line);
        Assert.Equal(24, error.Column);
        Assert.Contains("(line 2, column 24)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Raise_exception_keeps_the_template_message_verbatim_and_its_position()
    {
        var error = Assert.Throws<ChatTemplateException>(
            () => RenderText("{% if true %}\n{{ raise_exception('System role not supported') }}{% endif %}"));
        Assert.True(error.RaisedByTemplate);
        Assert.Equal("System role not supported", error.Message);
        Assert.Equal(2, error.Line);
    }

    [Theory]
    [InlineData("{% include 'other.jinja' %}", "'{% include %}'", 1, 4)]
    [InlineData("ok\n{% extends 'base' %}", "'{% extends %}'", 2, 4)]
    [InlineData("{% import 'm' as m %}", "'{% import %}'", 1, 4)]
    [InlineData("{% block body %}{% endblock %}", "'{% block %}'", 1, 4)]
    [InlineData("{% do x.append(1) %}", "'{% do %}'", 1, 4)]
    [InlineData("{% for x in y recursive %}{% endfor %}", "'recursive'", 1, 15)]
    [InlineData("{{ f(*args) }}", "*args/**kwargs", 1, 6)]
    [InlineData("{{ x | nosuchfilter }}", "unsupported filter 'nosuchfilter'", 1, 6)]
    [InlineData("{% if x is nosuchtest %}{% endif %}", "unsupported test 'nosuchtest'", 1, 9)]
    [InlineData("{% frobnicate %}", "unknown tag '{% frobnicate %}'", 1, 4)]
    public void Unsupported_construct_is_named_with_line_and_column(string source, string named, int line, int column)
    {
        var error = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source));
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
        Assert.Equal(line, error.Line);
        Assert.Equal(column, error.Column);
        Assert.Contains($"(line {line}, column {column})", error.Message, StringComparison.Ordinal);
        Assert.False(error.RaisedByTemplate);
    }

    [Theory]
    [InlineData("{% if x %}never closed", "unexpected end of template, expected '{% elif %}' or '{% else %}' or '{% endif %}'", 1, 23)]
    [InlineData("{% for x in y %}\n{% endif %}", "unexpected '{% endif %}', expected '{% endfor %}' or '{% else %}'", 2, 4)]
    [InlineData("{{ 1 + }}", "unexpected end of print statement", 1, 8)]
    [InlineData("{% endfor %}", "'{% endfor %}' with no open block", 1, 4)]
    [InlineData("{% break %}", "'{% break %}' outside of a loop", 1, 4)]
    [InlineData("{{ 'unterminated }}", "unterminated string literal", 1, 4)]
    [InlineData("{{ x ", "unexpected end of template, expected '}}'", 1, 1)]
    [InlineData("{# never closed", "missing end of comment tag", 1, 1)]
    [InlineData("{{ x ! y }}", "unexpected char '!'", 1, 6)]
    [InlineData("{% set 1 = 2 %}", "expected a name", 1, 8)]
    public void Syntax_error_says_what_and_where(string source, string what, int line, int column)
    {
        var error = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source));
        Assert.Contains(what, error.Message, StringComparison.Ordinal);
        Assert.Equal(line, error.Line);
        Assert.Equal(column, error.Column);
    }

    [Fact]
    public void Endless_macro_recursion_fails_the_render_instead_of_the_process()
    {
        var error = Assert.Throws<ChatTemplateException>(() => RenderText("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"));
        Assert.Contains("maximum recursion depth exceeded in macro 'f'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Hostile_nesting_fails_the_parse_instead_of_the_process()
    {
        var deepParens = "{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}";
        Assert.Contains("nested deeper", Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(deepParens)).Message, StringComparison.Ordinal);

        var deepUnary = "{{ " + string.Concat(Enumerable.Repeat("not ", 200_000)) + "1 }}";
        Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(deepUnary));

        var deepBlocks = string.Concat(Enumerable.Repeat("{% if true %}", 100_000)) + string.Concat(Enumerable.Repeat("{% endif %}", 100_000));
        Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(deepBlocks));
    }

    [Fact]
    public void Sandbox_refuses_huge_ranges()
    {
        var error = Assert.Throws<ChatTemplateException>(() => RenderText("{% for i in range(1000000) %}{% endfor %}"));
        Assert.Contains("range too big", error.Message, StringComparison.Ordinal);
    }
}
