using Rbee.Models.Sources;

namespace Rbee.Models.Tests.Sources;

public sealed class ModelReferenceTests
{
    private const string Sha = "4bce04b23b28ddcca4c273812eaf5e32a0a301411912c9663597de5e1f67e0e3";

    [Theory]
    [InlineData("TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", "TheBloke", "TinyLlama-1.1B-Chat-v1.0-GGUF", "main", "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", null)]
    [InlineData("TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", "TheBloke", "TinyLlama-1.1B-Chat-v1.0-GGUF", "main", "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", null)]
    [InlineData("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "bartowski", "Llama-3.2-1B-Instruct-GGUF", "main", null, "Q4_K_M")]
    [InlineData("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:q8_0", "bartowski", "Llama-3.2-1B-Instruct-GGUF", "main", null, "Q8_0")]
    [InlineData("huggingface.co/bartowski/Llama-3.2-1B-Instruct-GGUF", "bartowski", "Llama-3.2-1B-Instruct-GGUF", "main", null, "Q4_K_M")]
    [InlineData("org/repo@v1.2:model-F16.gguf", "org", "repo", "v1.2", "model-F16.gguf", null)]
    [InlineData("org/repo@0123abc/sub/dir/model.gguf", "org", "repo", "0123abc", "sub/dir/model.gguf", null)]
    [InlineData("org/repo:IQ4_XS", "org", "repo", "main", null, "IQ4_XS")]
    public void HuggingFaceForms_Parse(string text, string org, string repo, string revision, string? file, string? quant)
    {
        var r = Assert.IsType<HuggingFaceReference>(ModelReference.Parse(text));
        Assert.Equal((org, repo, revision, file, quant), (r.Org, r.Repo, r.Revision, r.File, r.Quantization));
        Assert.Null(r.Sha256);
    }

    [Fact]
    public void ResolveUri_IsHuggingFacesResolveEndpoint_OnTheGivenEndpoint()
    {
        var r = (HuggingFaceReference)ModelReference.Parse("org/repo@dev:sub/my model.gguf");
        Assert.Equal("https://huggingface.co/org/repo/resolve/dev/sub/my%20model.gguf", r.ResolveUri(HuggingFaceReference.DefaultEndpoint).AbsoluteUri);
        Assert.Equal("http://127.0.0.1:5000/org/repo/resolve/dev/sub/my%20model.gguf", r.ResolveUri("http://127.0.0.1:5000/").AbsoluteUri);
        Assert.Equal("my model", r.DefaultId);
    }

    [Fact]
    public void AUrl_AndADigest_Parse()
    {
        var r = Assert.IsType<UrlReference>(ModelReference.Parse($"https://example.com/files/aidreams260K.gguf#sha256={Sha.ToUpperInvariant()}"));
        Assert.Equal("https://example.com/files/aidreams260K.gguf", r.Url.AbsoluteUri);
        Assert.Equal(("aidreams260K", Sha), (r.DefaultId, r.Sha256));
        Assert.Equal(Sha, ModelReference.Parse($"org/repo:m.gguf#sha256={Sha}").Sha256);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("justaname", "names no repository")]
    [InlineData("org/repo", "names a repository but no file")]
    [InlineData("org/repo:latest", "neither a .gguf file name nor a quantisation")]
    [InlineData("org/repo/../../etc/passwd.gguf", "not a .gguf file path")]
    [InlineData("org/repo/model.bin", "not a .gguf file path")]
    [InlineData("../x/repo:m.gguf", "not a Hugging Face repository id")]
    [InlineData("org/re po:m.gguf", "not a Hugging Face repository id")]
    [InlineData("org/repo@../x:m.gguf", "not a revision")]
    [InlineData("org/repo:m.gguf#md5=abc", "not a digest")]
    [InlineData("org/repo:m.gguf#sha256=abc", "not a digest")]
    [InlineData("https://example.com/model", "not a .gguf file name")]
    [InlineData("https://user:pw@example.com/m.gguf", "must not carry a user name or password")]
    public void BadReferences_AreRefused_SayingWhatIsWrong(string text, string says)
    {
        Assert.False(ModelReference.TryParse(text, out _, out var error));
        Assert.Contains(says, error);
    }

    [Fact]
    public void PickFile_FindsTheOneFileOfTheQuantisation_AsAWholeWord()
    {
        var r = (HuggingFaceReference)ModelReference.Parse("org/repo:Q4_K");
        string[] files = ["README.md", "m-Q4_K_M.gguf", "m-Q4_K.gguf", "m-Q4_K-00001-of-00002.gguf", "m-Q4_K-00002-of-00002.gguf"];
        Assert.True(r.PickFile(files, out var file, out _));
        Assert.Equal("m-Q4_K.gguf", file);
    }

    [Fact]
    public void PickFile_NoneOrSeveral_IsAnErrorListingWhatThereIs()
    {
        var r = (HuggingFaceReference)ModelReference.Parse("org/repo:Q8_0");
        Assert.False(r.PickFile(["a-Q4_0.gguf", "a-F16.gguf"], out _, out var none));
        Assert.Contains("a-Q4_0.gguf, a-F16.gguf", none);
        Assert.False(r.PickFile(["a-Q8_0.gguf", "b.Q8_0.gguf"], out _, out var several));
        Assert.Contains("2 files of quantisation Q8_0", several);
    }
}
