using System.Text.Json;
using Rbee.Testing;
using Rbee.Worker.ChatTemplates;

namespace Rbee.Worker.Tests.ChatTemplates;

/// <summary>
/// Every real template in shared/models/templates × every conversation in cases.json must render exactly
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
            FixedTimeProvider.CasesClock);

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
}
