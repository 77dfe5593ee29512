using System.Text.Json;
using Rbee.Testing;
using Rbee.Worker.ChatTemplates;

namespace Rbee.Worker.Tests.ChatTemplates;

/// <summary>
/// 600 seeded random templates (Reference/generate_fuzz_rows.py): expressions over mixed types and statement
/// layouts exercising whitespace control, trim_blocks and lstrip_blocks. Where jinja2 rendered, the text must
/// be identical; where it raised, the interpreter must raise a ChatTemplateException (never another exception).
/// </summary>
public sealed class FuzzedAgainstJinja2Tests
{
    private static readonly string RowsPath =
        Path.Combine(RepoPaths.Root, "tests", "Rbee.Worker.Tests", "ChatTemplates", "Reference", "fuzz_rows.json");

    [Fact]
    public void Random_templates_render_or_fail_exactly_as_jinja2()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(RowsPath));
        var variables = new Dictionary<string, object?>
        {
            ["d"] = new Dictionary<string, object?> { ["a"] = 1, ["b"] = null },
            ["s"] = "Hello World",
            ["l"] = new List<object?> { 3, 1, 2 },
        };
        var failures = new List<string>();
        var rows = 0;
        foreach (var row in doc.RootElement.EnumerateArray())
        {
            rows++;
            var source = row[0].GetString()!;
            var rendered = row[1].GetString() == "OK";
            var jinja = row[2].GetString()!;
            try
            {
                var actual = ChatTemplate.Parse(source).Render(variables, TemplateClock.Stopped);
                if (!rendered)
                {
                    failures.Add($"{Escape(source)}: jinja2 raised {jinja}, rendered {Escape(actual)}");
                }
                else if (TextDiff.Describe(jinja, actual) is { } diff)
                {
                    failures.Add($"{Escape(source)}: {diff}");
                }
            }
            catch (ChatTemplateException e) when (!rendered)
            {
                // jinja2 raised too; the message is what an operator reads, so it must say something.
                Assert.False(string.IsNullOrWhiteSpace(e.Message), $"{Escape(source)}: empty error message");
            }
            catch (ChatTemplateException e)
            {
                failures.Add($"{Escape(source)}: jinja2 rendered {Escape(jinja)}, raised {e.Message}");
            }
        }

        Assert.Equal(600, rows);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static string Escape(string s) => s.Replace("\n", "\\n", StringComparison.Ordinal);
}
