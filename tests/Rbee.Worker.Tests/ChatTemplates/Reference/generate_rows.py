import json, sys
from ref import render
srcs = json.load(open('cases1.json'))
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
rows = []
for s in srcs:
    st, out = render(s, d={"a": 1, "b": None})
    assert st == "OK", (s, out)
    rows.append(f"        [InlineData({cs(s)}, {cs(out)})]")
print("\n".join(rows))
