using System.Text.Json;
using Rbee.Testing;
using Rbee.Worker.ChatTemplates;

namespace Rbee.Worker.Tests.ChatTemplates;

/// <summary>
/// The twelve real templates on a tool-calling conversation given through the public API (ChatMessage with
/// ChatToolCall, tools as JSON, enable_thinking as an extra variable), against what Python jinja2 rendered
/// (Reference/generate_tool_cases.py). Where jinja2 raised (e.g. a template concatenating a null content),
/// the interpreter must raise too, with jinja2's message first.
/// </summary>
public sealed class ToolConversationTests
{
    private static readonly string ReferenceDir = Path.Combine(RepoPaths.Root, "tests", "Rbee.Worker.Tests", "ChatTemplates", "Reference");

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var file in Directory.GetFiles(RepoPaths.Model("templates"), "*.jinja").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileNameWithoutExtension(file), "tools");
            data.Add(Path.GetFileNameWithoutExtension(file), "thinking-off");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Renders_tool_calls_like_jinja2(string template, string variant)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(ReferenceDir, "tool_conversation.json")));
        var root = doc.RootElement;
        var messages = root.GetProperty("messages").EnumerateArray().Select(ToMessage).ToList();
        var spec = root.GetProperty("variants").GetProperty(variant);
        var extra = new Dictionary<string, object?>();
        foreach (var p in spec.GetProperty("extra").EnumerateObject())
        {
            extra[p.Name] = p.Value.Clone();
        }

        if (spec.GetProperty("with_tools").GetBoolean())
        {
            extra["tools"] = root.GetProperty("tools").Clone();
        }

        var parsed = ChatTemplate.Parse(File.ReadAllText(RepoPaths.Model("templates", template + ".jinja")));
        string Render() => parsed.Render(messages, addGenerationPrompt: true, "<s>", "</s>", TemplateClock.Stopped, extra);

        AssertLikeJinja(template, variant, Render);
    }

    public static TheoryData<string, string> VariableSets()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(ReferenceDir, "variable_sets.json")));
        var data = new TheoryData<string, string>();
        foreach (var file in Directory.GetFiles(RepoPaths.Model("templates"), "*.jinja").Order(StringComparer.Ordinal))
        {
            foreach (var set in doc.RootElement.EnumerateObject())
            {
                data.Add(Path.GetFileNameWithoutExtension(file), set.Name);
            }
        }

        return data;
    }

    /// <summary>
    /// Whole variable sets as JSON through the general form: multi-part content, unicode, control characters
    /// and numbers through tojson, tool calls with empty content (Reference/variable_sets.json).
    /// </summary>
    [Theory]
    [MemberData(nameof(VariableSets))]
    public void Renders_json_variable_sets_like_jinja2(string template, string set)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(ReferenceDir, "variable_sets.json")));
        var variables = ChatTemplateValues.VariablesFromJson(doc.RootElement.GetProperty(set));
        var parsed = ChatTemplate.Parse(File.ReadAllText(RepoPaths.Model("templates", template + ".jinja")));
        AssertLikeJinja(template, set, () => parsed.Render(variables, TemplateClock.Stopped));
    }

    private static void AssertLikeJinja(string template, string variant, Func<string> render)
    {
        var expectedPath = Path.Combine(ReferenceDir, "expected", $"{template}.{variant}.txt");
        if (File.Exists(expectedPath + ".error"))
        {
            var error = Assert.Throws<ChatTemplateException>(() => render());
            var pythonError = File.ReadAllText(expectedPath + ".error");
            var message = pythonError[(pythonError.IndexOf(": ", StringComparison.Ordinal) + 2)..];
            Assert.Equal(pythonError.StartsWith("Exception: ", StringComparison.Ordinal), error.RaisedByTemplate);
            Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
            return;
        }

        var diff = TextDiff.Describe(File.ReadAllText(expectedPath), render());
        Assert.True(diff is null, $"{template}.{variant}: {diff}");
    }

    private static ChatMessage ToMessage(JsonElement m)
    {
        var content = m.GetProperty("content");
        return new ChatMessage(m.GetProperty("role").GetString()!, content.ValueKind == JsonValueKind.Null ? null : content.GetString())
        {
            ToolCallId = m.TryGetProperty("tool_call_id", out var id) ? id.GetString() : null,
            ToolCalls = m.TryGetProperty("tool_calls", out var calls)
                ? calls.EnumerateArray()
                    .Select(c => new ChatToolCall(c.GetProperty("id").GetString()!, c.GetProperty("name").GetString()!, c.GetProperty("arguments").GetString()!))
                    .ToList()
                : null,
        };
    }
}
