using Rbee.Contracts.Wire;
using Rbee.Models.Stores;

namespace Rbee.Models.Tests.Stores;

/// <summary>Ollama's store as <c>ollama pull</c> writes it, built by hand: manifests by name, blobs by digest.</summary>
public sealed class OllamaStoreTests : IDisposable
{
    private static readonly string Model = new('a', 64);
    private static readonly string Other = new('b', 64);

    private readonly TempFiles _temp = new();

    private string Root => _temp.PathOf("ollama");

    public void Dispose() => _temp.Dispose();

    private string Blob(string hex)
    {
        var path = Path.Combine(Root, "blobs", "sha256-" + hex);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "weights " + hex);
        return path;
    }

    private static string ManifestJson(string modelHex) => $$"""
        {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
         "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:{{new string('c', 64)}}","size":485},
         "layers":[
          {"mediaType":"application/vnd.ollama.image.template","digest":"sha256:{{new string('d', 64)}}","size":1429},
          {"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{{modelHex}}","size":1321082688},
          {"mediaType":"application/vnd.ollama.image.license","digest":"sha256:{{new string('e', 64)}}","size":7711}]}
        """;

    private string Manifest(string name, string json)
    {
        var path = Path.Combine([Root, "manifests", .. name.Split('/')]);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void AMissingStore_IsEmpty()
    {
        var store = new OllamaStore(Root);
        Assert.Equal(ModelSources.Ollama, store.Source);
        Assert.Equal(ModelStoreScan.Empty, store.Scan());
    }

    [Fact]
    public void EachManifest_IsAModelUnderOllamasName_AtItsModelLayersBlob_TwoNamesOfOneBlobAreTwoModels()
    {
        var blob = Blob(Model);
        var other = Blob(Other);
        Manifest("registry.ollama.ai/library/llama3.2/latest", ManifestJson(Model));
        Manifest("registry.ollama.ai/library/llama3.2/3b", ManifestJson(Model));
        Manifest("registry.ollama.ai/someone/tuned/v1", ManifestJson(Other));
        Manifest("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF/Q4_K_M", ManifestJson(Other));

        var scan = new OllamaStore(Root).Scan();

        Assert.Empty(scan.Problems);
        Assert.Equal(
        [
            new StoredModel(other, "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", Other),
            new StoredModel(blob, "llama3.2:3b", "registry.ollama.ai/library/llama3.2:3b", Model),
            new StoredModel(blob, "llama3.2:latest", "registry.ollama.ai/library/llama3.2:latest", Model),
            new StoredModel(other, "someone/tuned:v1", "registry.ollama.ai/someone/tuned:v1", Other),
        ], scan.Models);
    }

    [Theory]
    [InlineData("registry.ollama.ai", "library", "llama3.2", "1b", "llama3.2:1b")]
    [InlineData("registry.ollama.ai", "someone", "tuned", "latest", "someone/tuned:latest")]
    [InlineData("hf.co", "org", "repo", "Q4_K_M", "hf.co/org/repo:Q4_K_M")]
    [InlineData("localhost:5000", "library", "m", "x", "localhost:5000/library/m:x")]
    public void OllamasNames(string host, string ns, string name, string tag, string id) => Assert.Equal(id, OllamaStore.NameOf(host, ns, name, tag));

    [Fact]
    public void ABadManifest_IsSkippedWithItsReason_ReportedOncePerVersion_AndParsedOnlyWhenItChanges()
    {
        Blob(Model);
        var good = Manifest("registry.ollama.ai/library/good/latest", ManifestJson(Model));
        var notJson = Manifest("registry.ollama.ai/library/broken/latest", "{\"layers\":[");
        var noModel = Manifest("registry.ollama.ai/library/embedder/latest", ManifestJson(Model).Replace("image.model", "image.adapter", StringComparison.Ordinal));
        var noBlob = Manifest("registry.ollama.ai/library/pruned/latest", ManifestJson(Other));
        var badDigest = Manifest("registry.ollama.ai/library/odd/latest", ManifestJson("xyz"));
        Manifest("registry.ollama.ai/library/too-shallow", ManifestJson(Model)); // not host/namespace/name/tag: ignored
        Manifest("registry.ollama.ai/library/good/.latest.tmp", ManifestJson(Model)); // a temporary file: ignored
        var store = new OllamaStore(Root);

        var first = store.Scan();
        Assert.Equal(["good:latest"], first.Models.Select(m => m.Id));
        var reasons = first.Problems.ToDictionary(p => p.Path, p => p.Reason);
        Assert.Equal([notJson, noModel, badDigest, noBlob], first.Problems.Select(p => p.Path)); // by manifest path
        Assert.StartsWith("not valid JSON", reasons[notJson], StringComparison.Ordinal);
        Assert.StartsWith("no layer of media type application/vnd.ollama.image.model", reasons[noModel], StringComparison.Ordinal);
        Assert.Contains($"sha256:{Other} has no blob at {Path.Combine(Root, "blobs", "sha256-" + Other)}", reasons[noBlob], StringComparison.Ordinal);
        Assert.Contains("'sha256:xyz' is not sha256:<64 hex digits>", reasons[badDigest], StringComparison.Ordinal);
        Assert.Equal(5, store.ParseCount);

        // Nothing changed: nothing parsed, nothing reported again.
        var second = store.Scan();
        Assert.Equal(first.Models, second.Models);
        Assert.Empty(second.Problems);
        Assert.Equal(5, store.ParseCount);

        // The missing blob arrives: listed, with no new parse. A manifest rewritten (new mtime) is parsed and judged afresh.
        Blob(Other);
        File.WriteAllText(notJson, "still {");
        File.SetLastWriteTimeUtc(notJson, DateTime.UtcNow.AddMinutes(1));
        var third = store.Scan();
        Assert.Equal(["good:latest", "pruned:latest"], third.Models.Select(m => m.Id));
        Assert.Equal(notJson, Assert.Single(third.Problems).Path);
        Assert.Equal(6, store.ParseCount);

        // A manifest removed is gone from the next scan.
        File.Delete(good);
        Assert.Equal(["pruned:latest"], store.Scan().Models.Select(m => m.Id));
    }

    [Fact]
    public void AStoreCreatedAfterTheFirstScan_IsFoundByTheNext()
    {
        var store = new OllamaStore(Root);
        Assert.Empty(store.Scan().Models);
        Blob(Model);
        Manifest("registry.ollama.ai/library/late/latest", ManifestJson(Model));
        Assert.Equal(["late:latest"], store.Scan().Models.Select(m => m.Id));
    }
}
