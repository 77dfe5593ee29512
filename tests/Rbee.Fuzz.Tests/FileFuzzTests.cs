using System.Diagnostics;
using System.Text;
using CsCheck;
using Rbee.Models;
using Rbee.Models.Gguf;
using Rbee.Queen.Discovery;
using Rbee.Testing;
using Rbee.Worker.ChatTemplates;
using Rbee.Worker.Gguf;

namespace Rbee.Fuzz.Tests;

/// <summary>
/// What the programs read from disk: GGUF files (the catalog's header reader and the worker's mapped reader), the
/// SSH config, and a model's chat template. A file that lies (truncated, lengths and counts past the end, huge counts,
/// a misaligned offset) is refused with a clear error and no large allocation; a template that would run forever or
/// fill memory is stopped with one.
/// </summary>
public sealed class FileFuzzTests
{
    private static readonly byte[] Model = File.ReadAllBytes(RepoPaths.Model("aidreams260K.gguf"));

    /// <summary>How far the header (metadata, tensor infos) reaches in the fixture: mutations land there.</summary>
    private static readonly int HeaderLength = (int)GgufHeader.Read(RepoPaths.Model("aidreams260K.gguf")).DataOffset;

    private static Gen<byte[]> MutatedModel => Fuzz.MutatedBytes(Model[..HeaderLength]).Select(header =>
    {
        // The mutated header, then the file's tensor data as it was (a cut header stays cut: the file ends there).
        if (header.Length < HeaderLength) return header;
        return [.. header, .. Model.AsSpan(HeaderLength)];
    });

    [Fact]
    public void GgufHeaders_AreReadOrRefused()
    {
        MutatedModel.Check(bytes =>
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                var header = GgufHeader.Read(new MemoryStream(bytes), "fuzz.gguf");
                _ = header.RequiredLength;
                _ = ModelFiles.Describe(header, "fuzz", DateTime.UtcNow);
            }
            catch (Exception e) when (e is InvalidDataException or IncompleteModelFileException)
            {
                Assert.StartsWith("fuzz.gguf", e.Message);
            }
            // Skipped values cost no heap: a header that claims gigabytes must not get them.
            Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64L << 20, "reading one header allocated more than 64 MiB");
        });
    }

    [Fact]
    public void GgufFiles_AreMappedOrRefused()
    {
        var path = Path.Combine(Path.GetTempPath(), $"rbee-fuzz-{Environment.ProcessId}.gguf");
        try
        {
            MutatedModel.Sample(bytes =>
            {
                File.WriteAllBytes(path, bytes);
                try
                {
                    using var file = GgufFile.Open(path);
                }
                catch (InvalidDataException e)
                {
                    Assert.Contains(path, e.Message);
                }
            }, iter: Math.Max(50, Fuzz.Iterations / 4), threads: 1);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static readonly string[] SshWords =
        ["Host", "HostName", "Port", "User", "Match", "Include", "IdentityFile", "ProxyJump", "host", "PORT", "*", "?", "!",
         "gpu-box", "10.0.0.5", "22", "7835", "=", "\"", "\"a b\"", "#", " ", "\t", "\n", "\r\n", "all", "exec", "-1", "99999999999", "~/x", "/etc/*"];

    [Fact]
    public void SshConfigs_GiveHostsAndWarnings()
    {
        var dir = Directory.CreateTempSubdirectory("rbee-fuzz-ssh-").FullName;
        try
        {
            Gen.OneOf(SshWords).Array[0, 60].Select(words => string.Join(' ', words)).Check(text =>
            {
                var config = SshConfigParser.Parse(text, "config", dir);
                foreach (var h in config.Hosts) Assert.False(string.IsNullOrEmpty(h.Alias));
            });
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static readonly string[] TemplatePieces =
        ["{{ ", " }}", "{% ", " %}", "{%- ", " -%}", "for m in messages", "endfor", "if ", "elif ", "else", "endif", "m.role", "m['content']",
         "message", "loop.index", "range(", "100000", "99", ")", " * ", " + ", " ~ ", "'x'", "\"y\"", "[1,2]", "{'a': 1}", "|length", "|tojson",
         "|join(',')", "set x = ", "x", "macro f(a)", "endmacro", "f(", "raise_exception('no')", "namespace(a=1)", "not ", " and ", " in ",
         "add_generation_prompt", "bos_token", "(", "]", "{#", "#}", "2 ** 64", "-1", "none", "true", "'a' * 100000000", "strftime_now('%Y')"];

    [Fact]
    public void ChatTemplates_RenderOrFailClearly_InBoundedTimeAndMemory()
    {
        ChatMessage[] messages = [new("system", "be brief"), new("user", "hi"), new("assistant", "hello"), new("user", "again")];
        Gen.OneOf(TemplatePieces).Array[0, 30].Select(p => string.Concat(p)).Check(source =>
        {
            ChatTemplate template;
            try { template = ChatTemplate.Parse(source); }
            catch (ChatTemplateException) { return; }
            var clock = Stopwatch.StartNew();
            try
            {
                var text = template.Render(messages, addGenerationPrompt: true, "<s>", "</s>");
                Assert.True(text.Length <= ChatTemplate.MaxOutputChars);
            }
            catch (ChatTemplateException)
            {
            }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"rendering took {clock.Elapsed}: {source}");
        });
    }

    [Theory]
    [InlineData("{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}")]
    [InlineData("{{ 'a' * 2000000000 }}")]
    [InlineData("{% set x = 'abcdefgh' * 1000000 %}{% for i in range(100000) %}{{ x }}{% endfor %}")]
    [InlineData("{{ [1] * 2000000000 }}")]
    public void AHostileTemplate_IsStoppedWithAClearError(string source)
    {
        var template = ChatTemplate.Parse(source);
        var e = Assert.Throws<ChatTemplateException>(() => template.Render([new ChatMessage("user", "hi")], true, null, null));
        Assert.Contains("limit", e.Message);
    }
}
