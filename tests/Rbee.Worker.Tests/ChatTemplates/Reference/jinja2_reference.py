# Render templates the way the reference (cases.json "renderer") does, for unit-test expectations.
import json, sys
from datetime import datetime
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.ext import loopcontrols
def raise_exception(m): raise Exception(m)
def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
def strftime_now(f): return datetime(2026,1,15,12,0,0).strftime(f)
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now
def render(src, **kw):  # ("OK", text) or ("ERR", "Type: message")
    try:
        return "OK", env.from_string(src).render(**kw)
    except Exception as e:
        return "ERR", f"{type(e).__name__}: {e}"
if __name__ == "__main__":  # rows for JinjaReferenceTests
    for src in json.load(sys.stdin):
        print(json.dumps(render(src, d={"a": 1, "b": None}), ensure_ascii=False))
