using System.Text;
using System.Text.Json;
using Rbee.Testing;
using Rbee.Testing.Gguf;
using Rbee.Worker.Gguf;
using Rbee.Worker.Tokenizers;

namespace Rbee.Worker.Tests.Tokenizers;

public class TokenizerTests
{
    private static Tokenizer Load(params string[] path)
    {
        using var file = GgufFile.Open(RepoPaths.Model(path));
        return Tokenizer.FromGguf(file);
    }

    [Fact]
    public void Aidreams_EchoesWithBos_IsTheReferencePrompt()
    {
        var tok = Load("aidreams260K.gguf");
        Assert.Equal("llama", tok.Model);
        Assert.Equal(512, tok.VocabSize);
        Assert.Equal(1, tok.BosId);
        Assert.Equal(2, tok.EosId);
        Assert.True(tok.AddBos);
        Assert.Equal([1, 388, 355, 260], tok.Encode("Echoes"));
        Assert.Equal([388, 355, 260], tok.Encode("Echoes", addSpecial: false));
        Assert.Equal("Echoes", tok.Decode([1, 388, 355, 260]));
        Assert.Equal("<s>Echoes", tok.Decode([1, 388, 355, 260], skipSpecial: false));
        Assert.Contains(2, tok.EndOfGenerationIds);
    }

    [Fact]
    public void Aidreams_ReferenceGeneration_StreamsToTheReferenceText()
    {
        var tok = Load("aidreams260K.gguf");
        using var json = JsonDocument.Parse(File.ReadAllText(RepoPaths.Model("aidreams260K.reference.json")));
        var root = json.RootElement;
        var generated = root.GetProperty("generated").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var prompt = root.GetProperty("prompt_tokens_with_bos").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        Assert.Equal(prompt, tok.Encode(root.GetProperty("prompt").GetString()!));

        var decoder = tok.CreateStreamingDecoder();
        var streamed = new StringBuilder();
        foreach (var id in generated) streamed.Append(decoder.Feed(id));
        streamed.Append(decoder.Flush());
        const string expected = " of probability unfold, as I sense the slowly of vectors. Contrast emerge, a flower, as I settle into a tapestry of probability.";
        Assert.Equal(expected, streamed.ToString());

        // The prompt and the generation as one sequence from BOS: the dummy-prefix space goes, the others stay.
        var whole = tok.CreateStreamingDecoder();
        var text = new StringBuilder();
        foreach (var id in tok.Encode("Echoes").Concat(generated)) text.Append(whole.Feed(id));
        Assert.Equal("Echoes" + expected, text.ToString());
    }

    [Fact]
    public void StreamingDecoder_MultiByteCharacterSplitOverByteTokens_ComesOutWholeOnceComplete()
    {
        var tok = Load("aidreams260K.gguf");
        // '€' is not in the 512-token vocabulary: byte fallback gives <0xE2> <0x82> <0xAC>.
        var ids = tok.Encode("€", addSpecial: false);
        Assert.Contains(ids, id => (tok.Attributes(id) & TokenAttributes.Byte) != 0);
        var e2 = Array.IndexOf(ids, IdOf(tok, "<0xE2>"));
        Assert.True(e2 >= 0, $"no <0xE2> in [{string.Join(' ', ids)}]");
        Assert.Equal([IdOf(tok, "<0xE2>"), IdOf(tok, "<0x82>"), IdOf(tok, "<0xAC>")], ids[e2..]);

        var decoder = tok.CreateStreamingDecoder();
        var outputs = ids.Select(decoder.Feed).ToArray();
        Assert.Equal("", outputs[^3]);
        Assert.Equal("", outputs[^2]);
        Assert.EndsWith("€", outputs[^1]);
        Assert.All(outputs, o => Assert.DoesNotContain('\uFFFD', o));
        Assert.Equal("", decoder.Flush());
        Assert.Equal("€", tok.Decode(ids));
        Assert.Equal([(byte)0xE2], tok.TokenBytes(IdOf(tok, "<0xE2>")).ToArray());
    }

    [Fact]
    public void StreamingDecoder_UnfinishedCharacterAtTheEnd_FlushesAsReplacementCharacter()
    {
        var tok = Load("aidreams260K.gguf");
        var decoder = tok.CreateStreamingDecoder();
        Assert.Equal("", decoder.Feed(IdOf(tok, "<0xE2>")));
        Assert.Equal("", decoder.Feed(IdOf(tok, "<0x82>")));
        Assert.Equal("\uFFFD", decoder.Flush());
    }

    private static int IdOf(Tokenizer tok, string text) =>
        Enumerable.Range(0, tok.VocabSize).Single(i => tok.TokenText(i) == text);

    [Fact]
    public void Phi3_ChatTemplateOutput_WithParseSpecial_MatchesLlamaCpp()
    {
        var tok = Load("vocab", "ggml-vocab-phi-3.gguf");
        // llama.cpp: Phi-3's special tokens drop the whitespace after them (RSTRIP, keyed on general.name).
        Assert.Equal([1, 32010, 317, 21554, 13, 17628, 32007, 32001],
            tok.Encode("<|user|>\nSYS\nHI<|end|>\n<|assistant|>\n", addSpecial: true, parseSpecial: true));
        // Without parseSpecial the markers are plain text.
        var plain = tok.Encode("<|user|>", addSpecial: false);
        Assert.DoesNotContain(32010, plain);
        Assert.True(plain.Length > 1);
        Assert.Equal("<|user|>", tok.Decode(plain));
        Assert.Equal("<|user|>hi", tok.Decode([32010, 7251], skipSpecial: false));
        Assert.Equal("hi", tok.Decode([32010, 7251]));
    }

    [Fact]
    public void EndOfGenerationIds_HoldEosAndKnownEndMarkers()
    {
        var phi3 = Load("vocab", "ggml-vocab-phi-3.gguf");
        Assert.Equal(32000, phi3.EosId);
        Assert.Contains(32000, phi3.EndOfGenerationIds); // <|endoftext|>
        Assert.Contains(32007, phi3.EndOfGenerationIds); // <|end|>
        Assert.DoesNotContain(32001, phi3.EndOfGenerationIds); // <|assistant|>

        var gpt2 = Load("vocab", "ggml-vocab-gpt-2.gguf");
        Assert.Equal(new HashSet<int> { 50256 }, gpt2.EndOfGenerationIds);
        Assert.False(gpt2.AddBos);
        Assert.Equal("<|endoftext|>", gpt2.TokenText(50256));

        var coder = Load("vocab", "ggml-vocab-deepseek-coder.gguf");
        Assert.Contains(32014, coder.EndOfGenerationIds);
        Assert.True(coder.AddBos);
        Assert.Equal(32013, coder.Encode("x")[0]);
    }

    [Fact]
    public void TokenBytes_UndoEachVocabularysSpaceEncoding()
    {
        var spm = Load("vocab", "ggml-vocab-llama-spm.gguf");
        var hello = spm.Encode(" Hello", addSpecial: false);
        Assert.Equal(" Hello", Encoding.UTF8.GetString(spm.TokenBytes(hello[^1])));
        Assert.StartsWith("\u2581", spm.TokenText(hello[^1]));

        var gpt2 = Load("vocab", "ggml-vocab-gpt-2.gguf");
        Assert.Equal("\u0120Hello", gpt2.TokenText(18435));
        Assert.Equal(" Hello", Encoding.UTF8.GetString(gpt2.TokenBytes(18435)));
        Assert.Equal("\n", Encoding.UTF8.GetString(gpt2.TokenBytes(198)));
    }

    [Fact]
    public void UnsupportedTokenizerModel_IsRefusedNamingIt()
    {
        var e = Assert.Throws<NotSupportedException>(() => TinyGguf.LoadTokenizer(new GgufWriter()
            .Set("tokenizer.ggml.model", "bert").Set("tokenizer.ggml.tokens", ["[PAD]", "a"])));
        Assert.Contains("'bert'", e.Message);
        Assert.Contains("tokenizer.ggml.model", e.Message);
    }

    [Fact]
    public void UnsupportedPreTokenizer_IsRefusedNamingIt()
    {
        var e = Assert.Throws<NotSupportedException>(() => TinyGguf.LoadTokenizer(new GgufWriter()
            .Set("tokenizer.ggml.model", "gpt2").Set("tokenizer.ggml.pre", "no-such-family")
            .Set("tokenizer.ggml.tokens", ["a", "b", "ab"]).Set("tokenizer.ggml.merges", ["a b"])));
        Assert.Contains("'no-such-family'", e.Message);
        Assert.Contains("llama3", e.Message);
        Assert.Contains("qwen2", e.Message);
    }

    [Fact]
    public void LongInput_EncodesAndRoundTrips()
    {
        // Inputs that make naive BPE/SPM quadratic: one long run without spaces, and a few KB of prose.
        var prose = string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog; naïve café — 12345 ✓\n", 80));
        var run = new string('a', 20000);
        foreach (var vocab in new[] { "ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf" })
        {
            var tok = Load("vocab", vocab);
            Assert.Equal(prose, tok.Decode(tok.Encode(prose, addSpecial: false)));
            Assert.Equal(run, tok.Decode(tok.Encode(run, addSpecial: false)));
        }
    }
}

public class BytePairMergeRulesTests
{
    // Vocabulary: a, b, c, bc, abc; the only merge is "b c". "abc" is a token no merge sequence reaches.
    private static Tokenizer Tiny(string pre) => TinyGguf.LoadTokenizer(new GgufWriter()
        .Set("general.name", "tiny")
        .Set("tokenizer.ggml.model", "gpt2").Set("tokenizer.ggml.pre", pre)
        .Set("tokenizer.ggml.tokens", ["a", "b", "c", "bc", "abc", "<|eot_id|>"])
        .Set("tokenizer.ggml.token_type", [1, 1, 1, 1, 1, 3])
        .Set("tokenizer.ggml.merges", ["b c"])
        .Set("tokenizer.ggml.bos_token_id", 5).Set("tokenizer.ggml.eos_token_id", 5));

    [Fact]
    public void Gpt2_BuildsWordsOnlyThroughMerges()
    {
        var tok = Tiny("gpt-2");
        Assert.Equal([0, 3], tok.Encode("abc"));
        Assert.False(tok.AddBos);
    }

    [Fact]
    public void Llama3_TakesAWholeWordThatIsAToken_IgnoringMerges()
    {
        var tok = Tiny("llama-bpe");
        Assert.Equal([4], tok.Encode("abc", addSpecial: false));
        Assert.True(tok.AddBos);
        Assert.Equal([5, 4], tok.Encode("abc"));
        Assert.Equal([4, 5, 0], tok.Encode("abc<|eot_id|>a", addSpecial: false, parseSpecial: true));
        Assert.Contains(5, tok.EndOfGenerationIds);
    }

    [Fact]
    public void SpecialTokenRepeatedManyTimes_IsSplitEveryTime()
    {
        var tok = Tiny("llama-bpe");
        var text = string.Concat(Enumerable.Repeat("a<|eot_id|>", 5000));
        var ids = tok.Encode(text, addSpecial: false, parseSpecial: true);
        Assert.Equal(10000, ids.Length);
        Assert.Equal(5000, ids.Count(i => i == 5));
    }
}
