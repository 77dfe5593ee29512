using Microsoft.Extensions.Time.Testing;
using Rbee.Worker.ChatTemplates;

namespace Rbee.Worker.Tests.ChatTemplates;

/// <summary>The public API the server calls: messages, special tokens, extra variables, the clock.</summary>
public sealed class ChatTemplateApiTests
{
    [Fact]
    public void Strftime_now_reads_the_local_time_of_the_given_clock()
    {
        var template = ChatTemplate.Parse("{{ strftime_now('%Y-%m-%d %H:%M %A %B %-d') }}");
        var plusTwo = TimeZoneInfo.CreateCustomTimeZone("test+2", TimeSpan.FromHours(2), "test+2", "test+2");
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 15, 23, 30, 0, TimeSpan.Zero));
        clock.SetLocalTimeZone(plusTwo);
        Assert.Equal("2026-01-16 01:30 Friday January 16", template.Render([], false, null, null, clock));
    }

    [Fact]
    public void Null_special_tokens_are_undefined_and_print_nothing()
    {
        var template = ChatTemplate.Parse("[{{ bos_token }}][{{ eos_token is defined }}][{{ add_generation_prompt }}]");
        Assert.Equal("[][False][True]", template.Render([], addGenerationPrompt: true, bosToken: null, eosToken: null));
        Assert.Equal("[<s>][True][False]", template.Render([], addGenerationPrompt: false, "<s>", "</s>"));
    }

    [Fact]
    public void Extra_variables_add_names_and_override_defaults()
    {
        var template = ChatTemplate.Parse("{{ enable_thinking }} {{ tools|length }} {{ messages|length }}");
        var extra = new Dictionary<string, object?> { ["enable_thinking"] = false, ["tools"] = new[] { "t1", "t2" } };
        Assert.Equal("False 2 1", template.Render([new ChatMessage("user", "hi")], true, null, null, extraVariables: extra));
    }

    [Fact]
    public void Messages_carry_only_the_fields_that_are_set()
    {
        var template = ChatTemplate.Parse(
            "{% for m in messages %}{{ m|tojson }}\n{% endfor %}");
        ChatMessage[] messages =
        [
            new("user", "hi"),
            new("assistant", null)
            {
                ReasoningContent = "think",
                ToolCalls = [new ChatToolCall("call_1", "f", "{\"x\": [1, 2.5]}"), new ChatToolCall("call_2", "g", "not json")],
            },
            new("tool", "42") { ToolCallId = "call_1", Name = "f" },
        ];
        var expected =
            "{\"role\": \"user\", \"content\": \"hi\"}\n" +
            "{\"role\": \"assistant\", \"content\": null, \"reasoning_content\": \"think\", \"tool_calls\": [" +
            "{\"id\": \"call_1\", \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": {\"x\": [1, 2.5]}}}, " +
            "{\"id\": \"call_2\", \"type\": \"function\", \"function\": {\"name\": \"g\", \"arguments\": \"not json\"}}]}\n" +
            "{\"role\": \"tool\", \"content\": \"42\", \"name\": \"f\", \"tool_call_id\": \"call_1\"}\n";
        Assert.Equal(expected, template.Render(messages, false, null, null));
    }

    [Fact]
    public void Generation_block_of_hugging_face_renders_its_body()
    {
        var template = ChatTemplate.Parse("{% for m in ['a', 'b'] %}{% generation %}<{{ m }}>{% endgeneration %}\n{% endfor %}");
        Assert.Equal("<a><b>", template.Render(new Dictionary<string, object?>()));
    }

    [Fact]
    public void Unsupported_variable_type_is_refused_clearly()
    {
        var template = ChatTemplate.Parse("{{ x }}");
        var error = Assert.Throws<ChatTemplateException>(() => template.Render(new Dictionary<string, object?> { ["x"] = new Uri("http://x") }));
        Assert.Contains("'Uri' is not supported", error.Message, StringComparison.Ordinal);
    }
}
