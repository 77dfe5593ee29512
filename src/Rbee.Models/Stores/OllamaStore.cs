using System.Text.Json;
using System.Text.RegularExpressions;
using Rbee.Contracts.Wire;

namespace Rbee.Models.Stores;

/// <summary>
/// Ollama's model store (<see cref="ModelStoreRoots.OllamaModels"/>): a manifest per name at
/// <c>manifests/{host}/{namespace}/{name}/{tag}</c> (JSON, an OCI image manifest) whose layer of media type
/// <see cref="ModelMediaType"/> is the GGUF file, stored by content at <c>blobs/sha256-{hex}</c>. Each manifest is a model
/// under Ollama's own name for it (<see cref="NameOf"/>), so <c>llama3.2:latest</c> and <c>llama3.2:3b</c>, two names of one
/// blob, are two models with one path. The origin is the full name, the sha256 the digest.
/// <para>
/// A manifest is parsed only when its size or mtime changed since the last scan; the blob it names is looked for every
/// scan. A manifest that is not JSON, has no model layer, or names a missing blob is skipped, and reported in the scan
/// that first sees it so (once per manifest version).
/// </para>
/// </summary>
public sealed partial class OllamaStore(string root) : IModelStore
{
    /// <summary>The layer that is the model's weights (a GGUF file).</summary>
    public const string ModelMediaType = "application/vnd.ollama.image.model";

    /// <summary>Ollama's registry: its names leave the host out, and the namespace <see cref="DefaultNamespace"/> too.</summary>
    public const string DefaultHost = "registry.ollama.ai";

    public const string DefaultNamespace = "library";

    /// <summary>A manifest is a few hundred bytes; anything much larger is not one, and is not read.</summary>
    private const long MaxManifestBytes = 1 << 20;

    private static readonly EnumerationOptions Manifests = new()
    {
        RecurseSubdirectories = true,
        IgnoreInaccessible = true,
        AttributesToSkip = 0,
        MatchType = MatchType.Simple,
    };

    // What each manifest was when last parsed (the scans are never concurrent: see IModelStore.Scan).
    private Dictionary<string, Manifest> _manifests = new(StringComparer.Ordinal);

    public string Source => ModelSources.Ollama;

    public string Root { get; } = Path.GetFullPath(root);

    /// <summary>Manifests parsed so far: stays put while no manifest changes.</summary>
    public long ParseCount { get; private set; }

    public ModelStoreScan Scan()
    {
        var manifestsDir = Path.Combine(Root, "manifests");
        List<FileInfo> files;
        try
        {
            files = new DirectoryInfo(manifestsDir).EnumerateFiles("*", Manifests).ToList();
        }
        catch (DirectoryNotFoundException)
        {
            _manifests = new(StringComparer.Ordinal);
            return ModelStoreScan.Empty;
        }
        files.Sort((a, b) => string.CompareOrdinal(a.FullName, b.FullName)); // problems in a stable order
        var blobs = Path.Combine(Root, "blobs");
        var seen = new Dictionary<string, Manifest>(files.Count, StringComparer.Ordinal);
        var models = new List<StoredModel>();
        var problems = new List<StoreProblem>();
        foreach (var file in files)
        {
            var parts = Path.GetRelativePath(manifestsDir, file.FullName).Split(Path.DirectorySeparatorChar);
            if (parts.Length != 4 || parts.Any(p => p.StartsWith('.'))) continue; // not host/namespace/name/tag, or a temporary file
            long size, mtime;
            try { (size, mtime) = (file.Length, file.LastWriteTimeUtc.Ticks); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; } // removed while listed
            if (!_manifests.TryGetValue(file.FullName, out var manifest) || manifest.Size != size || manifest.MtimeTicks != mtime)
            {
                manifest = Parse(file.FullName, size, mtime);
                if (manifest.Problem is { } problem) problems.Add(new StoreProblem(file.FullName, problem));
            }
            seen[file.FullName] = manifest;
            if (manifest.Digest is not { } digest) continue;
            var blob = Path.Combine(blobs, "sha256-" + digest);
            if (!File.Exists(blob))
            {
                if (!manifest.BlobMissingReported)
                {
                    manifest.BlobMissingReported = true;
                    problems.Add(new StoreProblem(file.FullName, $"its model layer sha256:{digest} has no blob at {blob}"));
                }
                continue;
            }
            var (host, ns, name, tag) = (parts[0], parts[1], parts[2], parts[3]);
            models.Add(new StoredModel(blob, NameOf(host, ns, name, tag), $"{host}/{ns}/{name}:{tag}", digest));
        }
        _manifests = seen;
        models.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        return new ModelStoreScan(models, problems);
    }

    /// <summary>
    /// The name Ollama shows (<c>ollama list</c>) and takes (<c>ollama run</c>): <c>name:tag</c> on its own registry's
    /// <c>library</c>, <c>namespace/name:tag</c> elsewhere on its registry, <c>host/namespace/name:tag</c> on another host
    /// (<c>hf.co/org/repo:Q4_K_M</c>).
    /// </summary>
    public static string NameOf(string host, string ns, string name, string tag)
    {
        if (!string.Equals(host, DefaultHost, StringComparison.OrdinalIgnoreCase)) return $"{host}/{ns}/{name}:{tag}";
        return string.Equals(ns, DefaultNamespace, StringComparison.OrdinalIgnoreCase) ? $"{name}:{tag}" : $"{ns}/{name}:{tag}";
    }

    private Manifest Parse(string path, long size, long mtimeTicks)
    {
        ParseCount++;
        var manifest = new Manifest(size, mtimeTicks);
        if (size > MaxManifestBytes) return manifest with { Problem = $"{size} bytes is too large for a manifest" };
        try
        {
            using var json = JsonDocument.Parse(File.ReadAllBytes(path));
            if (json.RootElement.ValueKind != JsonValueKind.Object
                || !json.RootElement.TryGetProperty("layers", out var layers) || layers.ValueKind != JsonValueKind.Array)
                return manifest with { Problem = "not an Ollama manifest (no layers)" };
            foreach (var layer in layers.EnumerateArray())
            {
                if (layer.ValueKind != JsonValueKind.Object
                    || !layer.TryGetProperty("mediaType", out var type) || type.ValueKind != JsonValueKind.String
                    || type.GetString() != ModelMediaType) continue;
                var digest = layer.TryGetProperty("digest", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : "";
                var match = Digest().Match(digest);
                return match.Success
                    ? manifest with { Digest = match.Groups[1].Value.ToLowerInvariant() }
                    : manifest with { Problem = $"its model layer's digest '{digest}' is not sha256:<64 hex digits>" };
            }
            return manifest with { Problem = $"no layer of media type {ModelMediaType} (not a language model, or an engine rbee does not run)" };
        }
        catch (JsonException e)
        {
            return manifest with { Problem = $"not valid JSON ({e.Message})" };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return manifest with { Problem = $"unreadable ({e.Message})" };
        }
    }

    /// <summary>What one version (size, mtime) of a manifest says: the model blob's digest, or why it has none.</summary>
    private sealed record Manifest(long Size, long MtimeTicks)
    {
        public string? Digest { get; init; }
        public string? Problem { get; init; }
        public bool BlobMissingReported { get; set; }
    }

    [GeneratedRegex("^sha256:([0-9a-fA-F]{64})$", RegexOptions.CultureInvariant)]
    private static partial Regex Digest();
}
