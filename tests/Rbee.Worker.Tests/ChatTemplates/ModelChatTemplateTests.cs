using Rbee.Testing;
using Rbee.Worker.ChatTemplates;
using Rbee.Worker.Gguf;

namespace Rbee.Worker.Tests.ChatTemplates;

/// <summary>The template and special tokens come from a real GGUF file's metadata.</summary>
public sealed class ModelChatTemplateTests
{
    [Fact]
    public void Reads_template_and_special_tokens_from_a_real_gguf_and_renders_like_jinja2()
    {
        using var gguf = GgufFile.Open(RepoPaths.Model("vocab", "ggml-vocab-phi-3.gguf"));
        var model = ModelChatTemplate.FromGguf(gguf);

        Assert.NotNull(model);
        Assert.Equal("<s>", model.BosToken);
        Assert.Equal("<|endoftext|>", model.EosToken);
        Assert.StartsWith("{{ bos_token }}{% for message in messages %}", model.Source, StringComparison.Ordinal);

        ChatMessage[] messages =
        [
            new("system", "You are a helpful assistant."),
            new("user", "Hello!"),
            new("assistant", "Hi there. How can I help?"),
            new("user", "What is 2+2?"),
        ];

        // Python jinja2 (Reference/jinja2_reference.py settings) on the same template string and tokens.
        const string Expected = "<s><|user|>\nHello!<|end|>\n<|assistant|>\nHi there. How can I help?<|end|>\n<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n";
        Assert.Equal(Expected, model.Render(messages, addGenerationPrompt: true));
    }

    [Fact]
    public void A_gguf_without_a_chat_template_gives_null()
    {
        using var gguf = GgufFile.Open(RepoPaths.Model("aidreams260K.gguf"));
        Assert.Null(ModelChatTemplate.FromGguf(gguf));
    }
}
