# Prints the [InlineData] rows of JinjaReferenceTests from reference_sources.json, rendered by jinja2.
import json, os
from jinja2_reference import render
here = os.path.dirname(os.path.abspath(__file__))
def cs(s):
    out = '"'
    for ch in s:
        if ch == '\\': out += '\\\\'
        elif ch == '"': out += '\\"'
        elif ch == '\n': out += '\\n'
        elif ch == '\t': out += '\\t'
        elif ord(ch) < 0x20: out += '\\u%04x' % ord(ch)
        else: out += ch
    return out + '"'
if __name__ == "__main__":
    for s in json.load(open(os.path.join(here, "reference_sources.json"))):
        status, out = render(s, d={"a": 1, "b": None})
        assert status == "OK", (s, out)
        print(f"        [InlineData({cs(s)}, {cs(out)})]")
