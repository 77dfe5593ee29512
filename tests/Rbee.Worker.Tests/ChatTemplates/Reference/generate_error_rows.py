# Prints the [InlineData] rows of ChatTemplateErrorTests from reference_error_sources.json: what jinja2 raised.
import json, os
from jinja2_reference import render
from generate_rows import cs
here = os.path.dirname(os.path.abspath(__file__))
for s in json.load(open(os.path.join(here, "reference_error_sources.json"))):
    status, msg = render(s, d={"a": 1, "b": None})
    if status != "ERR":
        continue
    kind, text = msg.split(": ", 1)
    print(f"        [InlineData({cs(s)}, {cs(text)}, {'true' if kind == 'Exception' else 'false'})]")
