using System.Text.Json;
using Rbee.Testing;
using Rbee.Worker.ChatTemplates;

namespace Rbee.Worker.Tests.ChatTemplates;

/// <summary>
/// Every real template in tests/fixtures/templates × every conversation in cases.json must render exactly
/// what Python jinja2 produced (expected/NAME.CASE.txt), or raise the template's own message (.txt.error).
/// </summary>
public sealed class ChatTemplateCasesTests
{
    private static string TemplatesDir => RepoPaths.Model("templates");

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TemplatesDir, "cases.json")));
        var caseNames = doc.RootElement.GetProperty("cases").EnumerateObject().Select(p => p.Name).ToList();
        foreach (var file in Directory.GetFiles(TemplatesDir, "*.jinja").Order(StringComparer.Ordinal))
        {
            foreach (var caseName in caseNames)
            {
                data.Add(Path.GetFileNameWithoutExtension(file), caseName);
            }
        }

        return data;
    }

    [Fact]
    public void All_twelve_templates_and_three_cases_are_covered()
    {
        Assert.Equal(36, Cases().Count);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Renders_exactly_like_jinja2(string template, string caseName)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TemplatesDir, "cases.json")));
        var root = doc.RootElement;
        var conversation = root.GetProperty("cases").GetProperty(caseName);
        var messages = conversation.GetProperty("messages").EnumerateArray()
            .Select(m => new ChatMessage(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()))
            .ToList();
        var addGenerationPrompt = conversation.GetProperty("add_generation_prompt").GetBoolean();
        var tokens = root.GetProperty("special_tokens");

        var parsed = ChatTemplate.Parse(File.ReadAllText(Path.Combine(TemplatesDir, template + ".jinja")));
        string Render() => parsed.Render(
            messages,
            addGenerationPrompt,
            tokens.GetProperty("bos_token").GetString(),
            tokens.GetProperty("eos_token").GetString(),
            TemplateClock.Stopped);

        var expectedPath = Path.Combine(TemplatesDir, "expected", $"{template}.{caseName}.txt");
        if (File.Exists(expectedPath + ".error"))
        {
            var error = Assert.Throws<ChatTemplateException>(Render);
            Assert.True(error.RaisedByTemplate);
            Assert.Equal(File.ReadAllText(expectedPath + ".error").TrimEnd('\n'), error.Message);
            return;
        }

        var expected = File.ReadAllText(expectedPath);
        var actual = Render();
        var diff = TextDiff.Describe(expected, actual);
        Assert.True(diff is null, $"{template}.{caseName}: {diff}");
    }

    /// <summary>The general form: the case's JSON as variables, the way a server can pass a request through.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Renders_json_variables_through_the_general_form(string template, string caseName)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TemplatesDir, "cases.json")));
        var variables = new Dictionary<string, object?>(ChatTemplateValues.VariablesFromJson(doc.RootElement.GetProperty("cases").GetProperty(caseName)));
        foreach (var (name, value) in ChatTemplateValues.VariablesFromJson(doc.RootElement.GetProperty("special_tokens")))
        {
            variables[name] = value;
        }

        var parsed = ChatTemplate.Parse(File.ReadAllText(Path.Combine(TemplatesDir, template + ".jinja")));
        var expectedPath = Path.Combine(TemplatesDir, "expected", $"{template}.{caseName}.txt");
        if (File.Exists(expectedPath + ".error"))
        {
            Assert.True(Assert.Throws<ChatTemplateException>(() => parsed.Render(variables, TemplateClock.Stopped)).RaisedByTemplate);
            return;
        }

        var diff = TextDiff.Describe(File.ReadAllText(expectedPath), parsed.Render(variables, TemplateClock.Stopped));
        Assert.True(diff is null, $"{template}.{caseName}: {diff}");
    }

    [Fact]
    public async Task One_parsed_template_renders_concurrently_with_identical_results()
    {
        var parsed = ChatTemplate.Parse(File.ReadAllText(Path.Combine(TemplatesDir, "Qwen-Qwen3-0.6B.jinja")));
        var expected = File.ReadAllText(Path.Combine(TemplatesDir, "expected", "Qwen-Qwen3-0.6B.chat.txt"));
        ChatMessage[] messages =
        [
            new("system", "You are a helpful assistant."),
            new("user", "Hello!"),
            new("assistant", "Hi there. How can I help?"),
            new("user", "What is 2+2?"),
        ];
        var renders = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => Task.Run(
            () => parsed.Render(messages, addGenerationPrompt: true, "<s>", "</s>", TemplateClock.Stopped))));
        Assert.All(renders, r => Assert.Equal(expected, r));
    }
}
