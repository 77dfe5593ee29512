using Rbee.Contracts.Wire;

namespace Rbee.Models.Stores;

/// <summary>
/// The Hugging Face hub cache (<see cref="ModelStoreRoots.HuggingFaceHubCache"/>), as <c>huggingface_hub</c> lays it out:
/// <c>models--{org}--{repo}/snapshots/{commit}/{path in repo}</c>, each file usually a link to <c>../../blobs/{hash}</c>,
/// and <c>refs/main</c> holding the commit <c>main</c> pointed at when last downloaded. Every <c>*.gguf</c> of a snapshot
/// is a model with the id of its file name without <c>.gguf</c>, the origin <c>org/repo:path/in/repo.gguf</c>, and the
/// sha256 of a blob named by its LFS content address (a 64-hex blob name; a small file's blob is named by its git hash,
/// 40 hex, which is not a sha256).
/// <para>
/// When several snapshots hold the same path, the one <c>refs/main</c> names wins, else the newest snapshot. The parts of a
/// split model (<c>-00001-of-00003.gguf</c>) are skipped: the engine loads one file. A link whose blob is gone (an
/// interrupted download, a pruned cache) is skipped. Other repository kinds (<c>datasets--</c>, <c>spaces--</c>) are not
/// models.
/// </para>
/// </summary>
public sealed class HuggingFaceCache(string root) : IModelStore
{
    private const string RepoPrefix = "models--";

    private static readonly EnumerationOptions TopLevel = new()
    {
        RecurseSubdirectories = false,
        IgnoreInaccessible = true,
        AttributesToSkip = 0,
        MatchType = MatchType.Simple,
    };

    private static readonly EnumerationOptions AllGguf = new()
    {
        RecurseSubdirectories = true,
        IgnoreInaccessible = true,
        AttributesToSkip = 0,
        MatchType = MatchType.Simple,
        MatchCasing = MatchCasing.CaseInsensitive,
    };

    public string Source => ModelSources.HuggingFace;

    public string Root { get; } = Path.GetFullPath(root);

    public ModelStoreScan Scan()
    {
        List<DirectoryInfo> repos;
        try
        {
            repos = new DirectoryInfo(Root).EnumerateDirectories(RepoPrefix + "*", TopLevel).ToList();
        }
        catch (DirectoryNotFoundException)
        {
            return ModelStoreScan.Empty;
        }
        repos.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        var models = new List<StoredModel>();
        foreach (var repo in repos)
            if (RepoId(repo.Name) is { } repoId) models.AddRange(ScanRepo(repo, repoId));
        return new ModelStoreScan(models, []);
    }

    /// <summary><c>org/repo</c> of a cache folder name (<c>models--org--repo</c>; <c>models--gpt2</c> has no org). Hub
    /// names cannot contain <c>--</c>, which is why the cache can use it as the separator.</summary>
    public static string? RepoId(string folderName)
    {
        if (!folderName.StartsWith(RepoPrefix, StringComparison.Ordinal) || folderName.Length == RepoPrefix.Length) return null;
        return folderName[RepoPrefix.Length..].Replace("--", "/", StringComparison.Ordinal);
    }

    /// <summary>A part of a split model: <c>name-00001-of-00003.gguf</c>.</summary>
    public static bool IsSplitPart(string fileName) => Sources.Patterns.SplitPart().IsMatch(fileName);

    private static List<StoredModel> ScanRepo(DirectoryInfo repo, string repoId)
    {
        List<DirectoryInfo> snapshots;
        try
        {
            snapshots = new DirectoryInfo(Path.Combine(repo.FullName, "snapshots")).EnumerateDirectories("*", TopLevel).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return []; // no snapshot yet (a download in progress), or removed while listed
        }
        var main = ReadMainRef(repo.FullName);
        var ordered = snapshots
            .OrderByDescending(s => s.Name == main)
            .ThenByDescending(s => s.LastWriteTimeUtc)
            .ThenBy(s => s.Name, StringComparer.Ordinal);
        var byPath = new Dictionary<string, StoredModel>(StringComparer.Ordinal);
        foreach (var snapshot in ordered)
        {
            IEnumerable<FileInfo> files;
            try { files = snapshot.EnumerateFiles("*" + ModelFiles.Extension, AllGguf).ToList(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            foreach (var file in files)
            {
                if (file.Name.StartsWith('.') || IsSplitPart(file.Name)) continue;
                var inRepo = Path.GetRelativePath(snapshot.FullName, file.FullName).Replace(Path.DirectorySeparatorChar, '/');
                if (byPath.ContainsKey(inRepo)) continue; // a preferred snapshot has it
                if (Describe(file, repoId, inRepo) is { } model) byPath[inRepo] = model;
            }
        }
        return byPath.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Value).ToList();
    }

    /// <summary>The model of one snapshot file; null for a link whose blob is gone.</summary>
    private static StoredModel? Describe(FileInfo file, string repoId, string inRepo)
    {
        string? sha = null;
        try
        {
            if (file.LinkTarget is { } target)
            {
                if (file.ResolveLinkTarget(returnFinalTarget: true) is not FileInfo { Exists: true }) return null;
                var blob = Path.GetFileName(target);
                if (Sources.Patterns.Sha256().IsMatch(blob)) sha = blob.ToLowerInvariant();
            }
            else if (!file.Exists) return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // a link loop, or removed while listed
        }
        return new StoredModel(file.FullName, ModelFiles.IdOf(file.Name), $"{repoId}:{inRepo}", sha);
    }

    private static string? ReadMainRef(string repo)
    {
        try { return File.ReadAllText(Path.Combine(repo, "refs", "main")).Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }
}
