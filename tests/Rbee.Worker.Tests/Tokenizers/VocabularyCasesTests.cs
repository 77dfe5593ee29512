using System.Text;
using Rbee.Testing;
using Rbee.Worker.Gguf;
using Rbee.Worker.Tokenizers;

namespace Rbee.Worker.Tests.Tokenizers;

/// <summary>
/// llama.cpp's own tokenizer test data: for each real vocabulary in <c>models/vocab/</c>, the <c>.inp</c> cases
/// (separated by lines <c>__ggml_vocab_test__</c>) and the ids llama.cpp produced without BOS (<c>.out</c>, one
/// line per case).
/// </summary>
public class VocabularyCasesTests
{
    public static TheoryData<string> Vocabularies()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(RepoPaths.Model("vocab"), "*.gguf").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(f));
        return data;
    }

    /// <summary>
    /// The .inp file is the cases joined by "\n__ggml_vocab_test__\n", with one after the last case too; a case
    /// keeps its own newlines (the case "\n\n" is two blank lines before the separator).
    /// </summary>
    internal static (string Text, int[] Ids)[] ReadCases(string vocab)
    {
        var inp = File.ReadAllText(RepoPaths.Model("vocab", vocab + ".inp"), Encoding.UTF8);
        var texts = inp.Split("\n__ggml_vocab_test__\n");
        Assert.Equal("", texts[^1]);
        texts = texts[..^1];
        var lines = File.ReadAllText(RepoPaths.Model("vocab", vocab + ".out"), Encoding.UTF8).Split('\n');
        if (lines[^1].Length == 0) lines = lines[..^1];
        Assert.Equal(texts.Length, lines.Length);
        return texts.Select((t, i) => (t, lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray())).ToArray();
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void EveryCase_EncodesToLlamaCppIds(string vocab)
    {
        using var file = GgufFile.Open(RepoPaths.Model("vocab", vocab));
        var tokenizer = Tokenizer.FromGguf(file);
        var cases = ReadCases(vocab);
        Assert.Equal(46, cases.Length);
        var failures = new List<string>();
        for (var i = 0; i < cases.Length; i++)
        {
            var (text, expected) = cases[i];
            var actual = tokenizer.Encode(text, addSpecial: false);
            if (!actual.SequenceEqual(expected))
                failures.Add($"case {i} {Show(text)}:\n  expected [{string.Join(' ', expected)}]\n  actual   [{string.Join(' ', actual)}]");
        }
        Assert.True(failures.Count == 0, $"{vocab}: {failures.Count} of {cases.Length} cases differ; first: {failures.FirstOrDefault()}");
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void EveryCase_DecodesBackToItsText(string vocab)
    {
        using var file = GgufFile.Open(RepoPaths.Model("vocab", vocab));
        var tokenizer = Tokenizer.FromGguf(file);
        foreach (var (text, _) in ReadCases(vocab))
        {
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, addSpecial: false)));
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, addSpecial: true)));
        }
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void StreamingEveryCase_GivesTheSameTextAsDecode(string vocab)
    {
        using var file = GgufFile.Open(RepoPaths.Model("vocab", vocab));
        var tokenizer = Tokenizer.FromGguf(file);
        foreach (var (text, _) in ReadCases(vocab))
        {
            var ids = tokenizer.Encode(text, addSpecial: false);
            var decoder = tokenizer.CreateStreamingDecoder();
            var sb = new StringBuilder();
            foreach (var id in ids)
            {
                var part = decoder.Feed(id);
                Assert.DoesNotContain('\uFFFD', part);
                sb.Append(part);
            }
            sb.Append(decoder.Flush());
            // A continuation keeps its spaces, so an SPM dummy prefix shows as one leading space.
            var expected = tokenizer.AddSpacePrefix && ids.Length > 0 ? " " + text : text;
            Assert.Equal(expected, sb.ToString());
        }
    }

    internal static string Show(string s) =>
        "\"" + s.Replace("\\", "\\\\").Replace("\n", "\\n").Replace("\t", "\\t").Replace("\r", "\\r") + "\"";
}
