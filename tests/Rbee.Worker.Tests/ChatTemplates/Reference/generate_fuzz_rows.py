# Random templates rendered by jinja2, for FuzzedAgainstJinja2Tests: expressions (operators, filters, tests,
# slicing over mixed types) and statement layouts (nested for/if/set/raw/comments with -/+ whitespace control,
# trim_blocks and lstrip_blocks). Rows: [source, "OK"|"ERR", output or "Type: message"]. Seeded, reproducible.
import copy, json, os, random
from jinja2_reference import render
here = os.path.dirname(os.path.abspath(__file__))
VARS = dict(d={"a": 1, "b": None}, s="Hello World", l=[3, 1, 2])

atoms = ["1", "2", "0", "-3", "2.5", "0.1", "'a'", "'ab c'", "''", "none", "true", "false", "[1, 2]", "[]", "{'k': 1}", "x", "d", "d.a", "d.b", "d.zz", "s", "l", "(1, 2)", "'A b'"]
binops = ["+", "-", "*", "/", "//", "%", "~", "==", "!=", "<", ">=", "and", "or", "in", "not in"]
filters = ["|length", "|string", "|upper", "|trim", "|first", "|last", "|list", "|tojson", "|default('z')", "|int", "|float", "|abs", "|reverse|list", "|join('-')", "|sort|list", "|unique|list", "|round", "|title", "|capitalize", "|e", "|wordcount", "|items|list", "|dictsort", "|sum", "|max", "|min", "|count", "|replace('a', 'b')", "|indent(2)", "|center(7)", "|batch(2)|list"]
tests = [" is defined", " is none", " is string", " is number", " is mapping", " is iterable", " is sequence", " is odd", " is even", " is true", " is false", " is boolean", " is integer", " is float", " is divisibleby 2", " is in [1, 'a']", " is equalto 1", " is not none"]

def expr(rng, depth=0):
    r = rng.random()
    if depth > 2 or r < 0.3:
        return rng.choice(atoms)
    if r < 0.55:
        return f"({expr(rng, depth+1)} {rng.choice(binops)} {expr(rng, depth+1)})"
    if r < 0.7:
        return f"({expr(rng, depth+1)}){rng.choice(filters)}"
    if r < 0.8:
        return f"({expr(rng, depth+1)}){rng.choice(tests)}"
    if r < 0.9:
        return f"({expr(rng, depth+1)} if {expr(rng, depth+1)} else {expr(rng, depth+1)})"
    return rng.choice(['s', 'l', '[1, 2, 3]', 'x']) + "[" + rng.choice(['0', '-1', '1:', '::-1', ':-1', '5', "'a'"]) + "]"

texts = ["", " ", "  ", "\n", "\n  ", "  \n", "a", " b ", "\t", "\n\n", "x\n    ", "  y", "\n\t ", "}"]
def layout(rng, depth=0):
    ws = lambda: rng.choice(["", " ", "  "])
    data = lambda: "".join(rng.choice(texts) for _ in range(rng.randint(0, 3)))
    tag = lambda body: "{%" + rng.choice(["", "", "-", "+"]) + " " + body + " " + rng.choice(["", "", "-", "+"]) + "%}"
    out = data()
    for _ in range(rng.randint(1, 3)):
        r = rng.random()
        if depth < 3 and r < 0.25:
            out += tag("for i in [1, 2]") + layout(rng, depth + 1) + (tag("else") + layout(rng, depth + 1) if rng.random() < 0.2 else "") + tag("endfor")
        elif depth < 3 and r < 0.5:
            out += tag(rng.choice(["if true", "if false", "if i is defined"])) + layout(rng, depth + 1) + (tag("else") + layout(rng, depth + 1) if rng.random() < 0.5 else "") + tag("endif")
        elif r < 0.6:
            out += tag("set ns.n = ns.n + 1")
        elif r < 0.7:
            out += "{#" + rng.choice(["", "-"]) + " c " + rng.choice(["", "-"]) + "#}"
        elif r < 0.75:
            out += "{%" + rng.choice(["", "-"]) + " raw " + rng.choice(["", "-"]) + "%}{{ r }}" + data() + tag("endraw")
        else:
            out += "{{" + rng.choice(["", "-"]) + ws() + rng.choice(["i", "x", "'v'", "ns.n", "d.a"]) + ws() + rng.choice(["", "", "-"]) + "}}"
        out += data()
    return out

rows, seen = [], set()
rng = random.Random(20260115)
while len(rows) < 600:
    src = "{{ " + expr(rng) + " }}" if len(rows) < 300 else "{% set ns = namespace(n=0) %}" + layout(rng) + rng.choice(["", "\n", "\n\n"])
    if src in seen:
        continue
    seen.add(src)
    # A fresh copy each time: jinja2's indent filter extends a list argument in place before failing.
    status, out = render(src, **copy.deepcopy(VARS))
    # jinja2 prints generators and dict views by their Python object names; those are out of the subset.
    if "generator object" in out or "dict_items" in out:
        continue
    rows.append([src, status, out])
json.dump(rows, open(os.path.join(here, "fuzz_rows.json"), "w"), ensure_ascii=False, indent=0)
