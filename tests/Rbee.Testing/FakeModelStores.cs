using System.Security.Cryptography;

namespace Rbee.Testing;

/// <summary>
/// The stores of other tools, laid out as those tools write them, for tests of a catalog that reads them in place: an
/// Ollama store (manifest per name, blob per digest) and a Hugging Face hub cache (snapshot links into blobs named by
/// sha256, <c>refs/main</c>).
/// </summary>
public static class FakeModelStores
{
    /// <summary>The commit a fake Hugging Face snapshot is named by (<c>refs/main</c> names it).</summary>
    public const string Commit = "0123456789abcdef0123456789abcdef01234567";

    /// <summary>
    /// Copies <paramref name="file"/> into Ollama's store at <paramref name="root"/> as one blob and writes a manifest for
    /// each of <paramref name="names"/> (Ollama's names: <c>tiny:latest</c>, <c>someone/tiny:v1</c>,
    /// <c>hf.co/org/repo:Q4_K_M</c>). Returns the blob's path.
    /// </summary>
    public static string AddOllama(string root, string file, params string[] names)
    {
        var sha = Sha256Of(file);
        var blob = Path.Combine(root, "blobs", "sha256-" + sha);
        Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
        if (!File.Exists(blob)) File.Copy(file, blob);
        foreach (var name in names)
        {
            var colon = name.LastIndexOf(':');
            var (path, tag) = colon > name.LastIndexOf('/') ? (name[..colon], name[(colon + 1)..]) : (name, "latest");
            var parts = path.Split('/');
            string[] full = parts.Length switch
            {
                1 => ["registry.ollama.ai", "library", parts[0]],
                2 => ["registry.ollama.ai", parts[0], parts[1]],
                _ => parts,
            };
            var manifest = Path.Combine([root, "manifests", .. full, tag]);
            Directory.CreateDirectory(Path.GetDirectoryName(manifest)!);
            File.WriteAllText(manifest, $$"""
                {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
                 "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:{{new string('0', 64)}}","size":2},
                 "layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{{sha}}","size":{{new FileInfo(file).Length}}}]}
                """);
        }
        return blob;
    }

    /// <summary>
    /// Copies <paramref name="file"/> into the hub cache at <paramref name="root"/> as <paramref name="inRepo"/> of
    /// <paramref name="repo"/> (<c>org/name</c>): a blob named by its sha256 and a relative link to it in the snapshot
    /// <see cref="Commit"/>, which <c>refs/main</c> names. Returns the link's path.
    /// </summary>
    public static string AddHuggingFace(string root, string file, string repo, string inRepo)
    {
        var repoDir = Path.Combine(root, "models--" + repo.Replace("/", "--", StringComparison.Ordinal));
        var blob = Path.Combine(repoDir, "blobs", Sha256Of(file));
        Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
        if (!File.Exists(blob)) File.Copy(file, blob);
        var link = Path.Combine([repoDir, "snapshots", Commit, .. inRepo.Split('/')]);
        Directory.CreateDirectory(Path.GetDirectoryName(link)!);
        File.CreateSymbolicLink(link, Path.GetRelativePath(Path.GetDirectoryName(link)!, blob));
        Directory.CreateDirectory(Path.Combine(repoDir, "refs"));
        File.WriteAllText(Path.Combine(repoDir, "refs", "main"), Commit);
        return link;
    }

    public static string Sha256Of(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
