# Expected renders of the real templates for tool_conversation.json, by Python jinja2 with the
# cases.json settings. Messages take the shape Rbee's ChatMessage gives them: role, content,
# [tool_call_id], [tool_calls: {id, type: "function", function: {name, arguments: <parsed JSON>}}].
import json, os, sys
from jinja2_reference import env
here = os.path.dirname(os.path.abspath(__file__))
templates = os.path.abspath(os.path.join(here, *[".."] * 5, "..", "shared", "models", "templates")) if len(sys.argv) < 2 else sys.argv[1]
conv = json.load(open(os.path.join(here, "tool_conversation.json")))
def message(m):
    d = {"role": m["role"], "content": m["content"]}
    if "tool_call_id" in m: d["tool_call_id"] = m["tool_call_id"]
    if "tool_calls" in m:
        d["tool_calls"] = [{"id": c["id"], "type": "function",
                            "function": {"name": c["name"], "arguments": json.loads(c["arguments"])}} for c in m["tool_calls"]]
    return d
messages = [message(m) for m in conv["messages"]]
out = os.path.join(here, "expected")
os.makedirs(out, exist_ok=True)
for name in sorted(os.listdir(templates)):
    if not name.endswith(".jinja"): continue
    src = open(os.path.join(templates, name)).read()
    for variant, spec in conv["variants"].items():
        kw = dict(messages=messages, add_generation_prompt=True, bos_token="<s>", eos_token="</s>", **spec["extra"])
        if spec["with_tools"]: kw["tools"] = conv["tools"]
        base = os.path.join(out, f"{name[:-6]}.{variant}.txt")
        try:
            text = env.from_string(src).render(**kw)
            open(base, "w").write(text)
        except Exception as e:
            open(base + ".error", "w").write(f"{type(e).__name__}: {e}")

# Whole variable sets given as JSON (multi-part content, unicode and numbers through tojson, tool calls
# with empty content), rendered through the general form.
sets = json.load(open(os.path.join(here, "variable_sets.json")))
for name in sorted(os.listdir(templates)):
    if not name.endswith(".jinja"): continue
    src = open(os.path.join(templates, name)).read()
    for variant, variables in sets.items():
        base = os.path.join(out, f"{name[:-6]}.{variant}.txt")
        try:
            text = env.from_string(src).render(**variables)
            open(base, "w").write(text)
        except Exception as e:
            open(base + ".error", "w").write(f"{type(e).__name__}: {e}")
