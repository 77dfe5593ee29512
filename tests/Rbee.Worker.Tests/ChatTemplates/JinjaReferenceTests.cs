using Rbee.Worker.ChatTemplates;

namespace Rbee.Worker.Tests.ChatTemplates;

/// <summary>
/// The interpreter against Python jinja2 3.1.6 itself: each row's expected text is what
/// Reference/jinja2_reference.py printed for the same source under the cases.json settings
/// (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, Hugging Face's tojson,
/// strftime_now at 2026-01-15 12:00), with <c>d = {"a": 1, "b": None}</c> defined.
/// </summary>
public sealed class JinjaReferenceTests
{
    [Theory]
        [InlineData("{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}|{% endfor %}", "10TrueFalse332|21FalseFalse321|32FalseTrue310|")]
        [InlineData("{% for x in [1,2,3] %}{{ loop.previtem is defined }}{{ loop.nextitem|default('-') }}{{ loop.cycle('o','e') }} {% endfor %}", "False2o True3e True-o ")]
        [InlineData("{% for k, v in {'a': 1, 'b': 2, 'c': 3}.items() if v != 2 %}{{ k }}={{ v }}{% if not loop.last %},{% endif %}{% endfor %}", "a=1,c=3")]
        [InlineData("{% for x in [] %}x{% else %}empty{% endfor %}", "empty")]
        [InlineData("{% for i in range(10) %}{% if i == 5 %}{% break %}{% endif %}{% if i is odd %}{% continue %}{% endif %}{{ i }}{% endfor %}", "024")]
        [InlineData("{% set ns = namespace(count=0, found=false) %}{% for i in [1,2,3] %}{% set ns.count = ns.count + i %}{% endfor %}{{ ns.count }} {{ ns.found }}", "6 False")]
        [InlineData("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}{% if true %}{% set x = 3 %}{% endif %}{{ x }}", "213")]
        [InlineData("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', punct='?') }}", "Hi a! Hi b?")]
        [InlineData("{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}", "120")]
        [InlineData("{{ {'b': 1, 'a': [1, 2.5, none, true, 'é\"\\n\\t'], 'c': {}, 'd': []} | tojson }}", "{\"b\": 1, \"a\": [1, 2.5, null, true, \"é\\\"\\n\\t\"], \"c\": {}, \"d\": []}")]
        [InlineData("{{ {'b': 1, 'a': [1, {'x': 'y'}], 'c': {}} | tojson(indent=2) }}", "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    {\n      \"x\": \"y\"\n    }\n  ],\n  \"c\": {}\n}")]
        [InlineData("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true, separators=(',', ':')) }}", "{\"a\":2,\"b\":1}")]
        [InlineData("{{ none }} {{ true }} {{ 1.0 }} {{ 1e20 }} {{ 0.1 + 0.2 }} {{ 1e-5 }} {{ 123456789.125 }} {{ [1, 'a', none, 2.0] }} {{ {'a': \"it's\"} }} {{ (1,) }} {{ (1, 'x') }}", "None True 1.0 1e+20 0.30000000000000004 1e-05 123456789.125 [1, 'a', None, 2.0] {'a': \"it's\"} (1,) (1, 'x')")]
        [InlineData("{{ 7 / 2 }} {{ 8 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -3 }} {{ 1 + 2 * 3 - 4 }} {{ 'ab' * 2 }} {{ [1] + [2] }} {{ true + 1 }}", "3.5 4.0 3 -4 2 -2 1024 0.5 3.0 -3 3 abab [1, 2] 2")]
        [InlineData("<ul>\n  {% for x in [1,2] %}\n    <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n", "<ul>\n    <li>1</li>\n    <li>2</li>\n</ul>")]
        [InlineData("a  {%- if true %}  b  {% endif -%}  c\n  {{- ' x ' -}}  \n d {#- comment -#} e\n    {# kept indent? #}\nf\n  {%+ if true %}g{% endif +%}\nh", "a  b  c x de\nf\n  g\nh")]
        [InlineData("{{ '  hi  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'Hello'|upper }}|{{ 'Hello'|lower }}|{{ 'hELLO wORLD'|capitalize }}|{{ \"hello they're-bill (x)\"|title }}", "hi|hi|HELLO|hello|Hello world|Hello They're-Bill (X)")]
        [InlineData("{{ [3,1,2]|first }}{{ [3,1,2]|last }}|{{ [1,2,3]|join(', ') }}|{{ []|first is defined }}|{{ x|default('dflt') }}|{{ ''|default('e', true) }}|{{ none|default('n') }}|{{ 'abc'|length }}|{{ 'abc'|list }}|{{ {'a':1}|list }}", "32|1, 2, 3|False|dflt|e|None|3|['a', 'b', 'c']|['a']")]
        [InlineData("{% set people = [{'name': 'A', 'age': 3, 'on': true}, {'name': 'b', 'age': 1, 'on': false}, {'name': 'C', 'age': 2}] %}{{ people|map(attribute='name')|join }}|{{ people|selectattr('on')|map(attribute='name')|list }}|{{ people|rejectattr('on')|map(attribute='name')|list }}|{{ people|selectattr('age', 'gt', 1)|list|length }}|{{ people|sort(attribute='name')|map(attribute='name')|join }}|{{ people|sort(attribute='age', reverse=true)|map(attribute='age')|join }}|{{ people|map(attribute='missing', default='z')|join }}", "AbC|['A']|['b', 'C']|2|AbC|321|zzz")]
        [InlineData("{{ [1,2,3,4]|select('odd')|list }} {{ [1,2,3,4]|reject('odd')|list }} {{ ['a','B','a']|unique|list }} {{ [3,1,2]|sort }} {{ ['b','A','c']|sort }} {{ [1,2,3,4,5]|batch(2)|list }} {{ [1,2,3]|batch(2, 0)|list }} {{ [1,2,3]|reverse|list }} {{ 'abc'|reverse }} {{ [1,2,3]|sum }} {{ [1,5,3]|max }} {{ ['b','A']|min }}", "[1, 3] [2, 4] ['a', 'B'] [1, 2, 3] ['A', 'b', 'c'] [[1, 2], [3, 4], [5]] [[1, 2], [3, 0]] [3, 2, 1] cba 6 5 A")]
        [InlineData("{{ 'a b'|replace(' ', '_') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 42|string }} {{ '42'|int + 1 }} {{ '4.7'|int }} {{ 'x'|int(7) }} {{ '2.5'|float }} {{ 3|float }} {{ 2.567|round(2) }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.1|round(0, 'ceil') }} {{ -3|abs }} {{ -2.5|abs }} {{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }} {{ 'one two, three!'|wordcount }} {{ {'b': 1, 'a': 2}|dictsort }} {{ 'ab'|center(6) }}| {{ {'x': 1}|items|list }} {{ '<a href=\"x\">'|e }} {{ '%s-%d'|format('a', 3) }}", "a_b bba 42 43 4 7 2.5 3.0 2.57 2.0 4.0 3.0 3 2.5 a\n  b\n\n  c|  a\n  b 3 [('a', 2), ('b', 1)]   ab  | [('x', 1)] &lt;a href=&#34;x&#34;&gt; a-3")]
        [InlineData("{{ x is defined }} {{ d is defined }} {{ none is none }} {{ 'a' is string }} {{ d is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ 'a' is sequence }} {{ 1 is number }} {{ 1.5 is number }} {{ true is boolean }} {{ 1 is boolean }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 2 is in [1,2] }} {{ 'a' is equalto 'a' }} {{ x is not defined }} {{ 1 is integer }} {{ 1.0 is float }}", "False True True True True True True False True True True True False True False True True True True False True True True True True")]
        [InlineData("{{ '  a b  '.strip() }}|{{ 'xxaxx'.lstrip('x') }}|{{ 'a\\n\\n'.rstrip('\\n') }}|{{ ' a  b '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a</think>b'.split('</think>')[-1] }}|{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}|{{ 'ab'.upper() }}|{{ 'aXa'.replace('a', 'b') }}|{{ 'hello world'.title() }}|{{ '{} and {name}'.format(1, name='n') }}|{{ d.get('a') }}{{ d.get('z', 'dz') }}{{ d.get('z') }}|{{ d.keys()|list }}|{{ d.values()|list }}|{{ d.items()|list }}", "a b|axx|a|['a', 'b']|['a', 'b,c']|b|TrueTrue|AB|bXb|Hello World|1 and n|1dzNone|['a', 'b']|[1, None]|[('a', 1), ('b', None)]")]
        [InlineData("{{ 'hello'[::-1] }} {{ [1,2,3,4][1:] }} {{ [1,2,3,4][:-1] }} {{ [1,2,3,4][::2] }} {{ 'abc'[-1] }} {{ [1,2,3][5] is defined }} {{ [1,2,3][-5:10] }} {{ 'abcdef'[1:5:2] }} {{ [1,2,3,4][3:0:-1] }}", "olleh [2, 3, 4] [1, 2, 3] [1, 3] c False [1, 2, 3] bd [4, 3, 2]")]
        [InlineData("{{ 'a' if x else 'b' }} {{ 'a' if d else 'b' }} {{ (1 if false) is defined }} {{ 1 in [1,2] }} {{ 'b' not in 'abc' }} {{ 'a' in d }} {{ 'a' ~ 1 ~ none ~ x }} {{ 0 or 'x' }} {{ 1 and 'y' }} {{ none or [] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ not 1 == 2 }} {{ 1 == 1.0 }} {{ [1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1} }} {{ x == x }} {{ none == x }}", "b a False True False True a1None x y [] True False True True True True True False")]
        [InlineData("{{ missing }}|{{ missing is defined }}|{{ missing|default('d') }}|{% if missing %}t{% else %}f{% endif %}|{{ missing ~ 'x' }}|{% for x in missing %}x{% endfor %}|{{ d.nokey }}|{{ d.nokey is defined }}|{{ d['nokey'] is defined }}|{{ missing|length }}|{{ 'x' in missing }}|{{ missing == missing }}|{{ missing|list }}|{{ missing|items|list }}", "|False|d|f|x|||False|False|0|False|True|[]|[]")]
        [InlineData("{% raw %}{{ not evaluated }}{% if %}{% endraw %}|{% set x %}hello {{ 1 }}{% endset %}{{ x|upper }}|{% filter upper %}up {{ 'x' }}{% endfilter %}|{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a is defined }}", "{{ not evaluated }}{% if %}|HELLO 1|UP X|3False")]
        [InlineData("{{ strftime_now('%Y-%m-%d %H:%M:%S %a %A %b %B %d %-d %j %p %I %y %e') }}", "2026-01-15 12:00:00 Thu Thursday Jan January 15 15 015 PM 12 26 15")]
        [InlineData("{{ 'x' | tojson }} {{ 1.5 | tojson }} {{ none | tojson }} {{ [] | tojson(indent=4) }} {{ 'emoji 😀 ü \\u0001' | tojson }} {{ 'ü' | tojson(ensure_ascii=true) }} {{ ('a', 1) | tojson }}", "\"x\" 1.5 null [] \"emoji 😀 ü \\u0001\" \"\\u00fc\" [\"a\", 1]")]
        [InlineData("{{ '😀ab'|length }} {{ '😀ab'[1] }} {{ '😀ab'[::-1] }} {{ 'x' * 3 }}{{ [0] * 2 }}", "3 a ba😀 xxx[0, 0]")]
        [InlineData("{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }},{% endfor %}{% set p, q = 'xy' %}{{ q }}{{ p }}{% set t = 1, 2 %}{{ t }}", "3,7,yx(1, 2)")]
        [InlineData("{% for m in [{'r': 'u'}, {'r': 'a'}] %}{% set m = m.r %}{{ m }}{% endfor %}|{{ range(3)|list }}{{ range(1, 7, 2)|list }}|{{ dict(a=1, b=2) }}|{{ namespace(a=1).a }}", "ua|[0, 1, 2][1, 3, 5]|{'a': 1, 'b': 2}|1")]
        [InlineData("{% for i in [1,2] %}{% if i == 2 %}[{{ x }}]{% endif %}{% set x = i %}{% endfor %}[{{ x }}]", "[][]")]
        [InlineData("{% set x = 0 %}{% for i in [1,2] %}{{ x }}{% set x = i %}{{ x }}{% endfor %}{{ x }}", "01020")]
        [InlineData("{% macro m() %}{{ y }}{% endmacro %}{% set y = 1 %}{{ m() }}", "1")]
        [InlineData("{% set y = 5 %}{% macro m(a, b=a) %}{{ a }}{{ b }}{{ y }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1) }} {{ m(1, 2, 3, z=4) }}", "115(){} 125(3,){'z': 4}")]
        [InlineData("{% for x in [1, 2] %}{% for y in 'ab' %}{{ loop.index }}{{ x }}{{ y }} {% endfor %}{{ loop.index }}|{% endfor %}", "11a 21b 1|12a 22b 2|")]
        [InlineData("{% for x in [1,1,2] %}{% if loop.changed(x) %}{{ x }}{% endif %}{{ loop.depth }}{% endfor %}", "11121")]
        [InlineData("{{ 1e16 }} {{ -0.0 }} {{ 1.5e-7 }} {{ 100.0 }} {{ 1234567890123456789.0 }} {{ 1_000 }} {{ 1.5e3 }} {{ 0.0001 }} {{ 123.456e-10 }} {{ 2.0 ** 70 }} {{ 1/3 }} {{ 2/3*3 }}", "1e+16 -0.0 1.5e-07 100.0 1.2345678901234568e+18 1000 1500.0 0.0001 1.23456e-08 1.1805916207174113e+21 0.3333333333333333 2.0")]
        [InlineData("{{ '\\x41\\u00e9\\101\\q\\'' }} {{ \"a\" 'b' }} {{ 'tab\\there' }}", "AéA\\q' ab tab\there")]
        [InlineData("{{ '\\u00a0 x \\u00a0'|trim }}|{{ ' \\u2003y'.strip() }}|", "x|y|")]
        [InlineData("{%- raw -%}  {{ x }}  {%- endraw -%}  |", "{{ x }}|")]
        [InlineData("  {# comment #}\nline\n    {%- if true %}\n  a\n  {% endif %}\nend", "line  a\nend")]
        [InlineData("{% if true %}\n  {{ 'x' }}\n{% endif %}\n{{ 'y' }}\n", "  x\ny")]
        [InlineData("text   {% if true -%}\n\n  yes  \n{%- endif %}   \n  after", "text   yes   \n  after")]
        [InlineData("{% set a = [1, 2] %}{% set b = a %}{{ a is sameas b }} {{ none is sameas none }} {{ [] is sameas [] }}", "True True False")]
        [InlineData("{{ {'a': {'b': [10, 20]}}.a.b.1 }} {{ [[1, 2]][0][1] }} {{ {'x': 1}['x'] }}", "20 2 1")]
        [InlineData("{{ range(5)|select('even')|map('string')|join('-') }} {{ ['a', 'b']|map('upper')|list }} {{ ['x ', ' y']|map('trim')|join }} {{ [1, 2]|map('replace', '1', 'one')|list }}", "0-2-4 ['A', 'B'] xy ['one', '2']")]
        [InlineData("{{ 'Hello World'|wordcount }} {{ 'a-b c'|title }}", "2 A-B C")]
        [InlineData("{{ [1, 2, 3]|join }} {{ [{'n': 'a'}, {'n': 'b'}]|join(',', attribute='n') }} {{ 'abc'|join('.') }}", "123 a,b a.b.c")]
        [InlineData("{{ 3 == 3.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ (1, 2) == [1, 2] }} {{ none is none }} {{ 0 == false }}", "True True True True False True True")]
        [InlineData("{% set t = ('a', 'b') %}{{ t[0] }}{{ t|length }}{{ t + ('c',) }}{% for a in t %}{{ a }}{% endfor %}", "a2('a', 'b', 'c')ab")]
        [InlineData("{{ x|default }}|{{ x|d('z') }}|{{ none|default('z') }}|{{ false|d('z', true) }}|{{ 0|default('z', boolean=true) }}", "|z|None|z|z")]
        [InlineData("{{ 'a,b,,c'.split(',') }} {{ 'a b'.split(' ') }} {{ '  '.split() }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ 'x'.center(5, '*') }} {{ 'abc'.find('c') }} {{ 'aaa'.count('a') }} {{ 'Hi There'.swapcase() }}", "['a', 'b', '', 'c'] ['a', 'b'] [] ['a', 'b', 'c'] **x** 2 3 hI tHERE")]
        [InlineData("{{ messages|length if messages is defined else 'no messages' }} {{ (messages or [])|length }}", "no messages 0")]
        [InlineData("{{ 10 // 3 * 3 + 10 % 3 }} {{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ not true or true }} {{ (1 + 2) ~ 3 }} {{ 2 * 3 ~ 4 }}", "10 4 64 True 33 64")]
        [InlineData("{{ 5 is divisibleby 2 }} {{ 10 is divisibleby 5 }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'a' is in 'abc' }} {{ 3 is gt 2 }} {{ 3 is ge 3 }} {{ 3 is lt 2 }} {{ 3 is ne 3 }} {{ none is string }} {{ {} is mapping }} {{ range is callable }}", "False True True True True True True False False False True True")]
        [InlineData("{% set ns = namespace(items=[]) %}{% for i in range(3) %}{% set ns.items = ns.items + [i] %}{% endfor %}{{ ns.items }}", "[0, 1, 2]")]
        [InlineData("{% set d2 = {'k': 'v', 'n': none} %}{% for k in d2 %}{{ k }}{% endfor %}|{% for k, v in d2|dictsort %}{{ k }}={{ v }};{% endfor %}|{{ d2|length }}", "kn|k=v;n=None;|2")]
        [InlineData("{{ 'x' if none }}|{{ ('x' if none) is defined }}", "|False")]
        [InlineData("{{ [3, 1, 2]|sort(reverse=true)|first }} {{ ['b', 'a', 'C']|sort(case_sensitive=true) }} {{ [{'a': 2}, {'a': 1}]|sort(attribute='a')|map(attribute='a')|list }}", "3 ['C', 'a', 'b'] [1, 2]")]
        [InlineData("{{ '%s is %d years'|format('Bob', 42) }} {{ 'pi=%f'|format(3.14159) }} {{ '100%%'|format() }}", "Bob is 42 years pi=3.141590 100%")]
        [InlineData("{% set s %}\n  block\n{% endset %}[{{ s }}]", "[  block\n]")]
        [InlineData("{{ '' or none or 0 or [] }} {{ [] and 1 }} {{ 'x' and 'y' or 'z' }}", "[] [] y")]
        [InlineData("{{ [missing] }}", "[Undefined]")]
        [InlineData("{% for x in [1] %}{% macro m() %}{{ x }}{% endmacro %}{% endfor %}{{ m is defined }}", "False")]
        [InlineData("{% set x = [1,2] %}{% for a in x %}{% set x = [] %}{{ a }}{% endfor %}", "12")]
        [InlineData("{{ 1 if true else 2 if false else 3 }}", "1")]
        [InlineData("{{ \"x\" ~ [1, \"b\"] }}", "x[1, 'b']")]
        [InlineData("{{ 5.0|int }}{{ \"0x1A\"|int(base=16) }}{{ \"12abc\"|int }}", "5260")]
        [InlineData("{{ x }}{% set x = 1 %}", "")]
        [InlineData("{% if true %}{% set z = 1 %}{% endif %}{{ z }}{% for i in [1] %}{% if true %}{% set w = 2 %}{% endif %}{{ w }}{% endfor %}{{ w is defined }}", "12False")]
        [InlineData("{{ 2.5 is odd }} {{ 3.0 is odd }} {{ 4.0 is even }} {{ 2.5 is divisibleby 2 }} {{ 2 // 0.1 }} {{ -7.5 // 2 }} {{ 7.5 % -2 }} {{ 2 * [1] }} {{ true * [1, 2] }} {{ (1, 2) * 2 }} {{ 'ab c' % [1, 2] }} {{ '%s-%s' % ('a', 1) }} {{ '%d%%' % 5 }} {{ 'x' % missing }}", "False True True False 19.0 -4.0 -0.5 [1, 1] [1, 2] (1, 2, 1, 2) ab c a-1 5% x")]
        [InlineData("{% macro box(title) %}[{{ title }}:{{ caller() }}]{% endmacro %}{% call box('t') %}body {{ 1 + 1 }}{% endcall %}|{% macro each(xs) %}{% for x in xs %}{{ caller(x, loop.index) }}{% endfor %}{% endmacro %}{% call(item, n) each(['a', 'b']) %}{{ n }}={{ item }};{% endcall %}", "[t:body 2]|1=a;2=b;")]
    public void Renders_like_jinja2(string source, string expected)
    {
        var variables = new Dictionary<string, object?>
        {
            ["d"] = new Dictionary<string, object?> { ["a"] = 1, ["b"] = null },
        };
        var actual = ChatTemplate.Parse(source).Render(variables, TemplateClock.Stopped);
        var diff = TextDiff.Describe(expected, actual);
        Assert.True(diff is null, diff);
    }
}
