using Rbee.Contracts.Wire;
using Rbee.Models.Stores;

namespace Rbee.Models.Tests.Stores;

/// <summary>The hub cache as <c>huggingface_hub</c> writes it, built by hand under a temporary root: snapshot files are
/// relative links into <c>blobs/</c>, <c>refs/main</c> names a commit.</summary>
public sealed class HuggingFaceCacheTests : IDisposable
{
    private const string CommitOld = "1111111111111111111111111111111111111111";
    private const string CommitMain = "2222222222222222222222222222222222222222";
    private static readonly string ShaOld = new('a', 64);
    private static readonly string ShaMain = new('b', 64);
    private static readonly string ShaSub = new('c', 64);

    private readonly TempFiles _temp = new();

    private string Root => _temp.PathOf("hub");

    public void Dispose() => _temp.Dispose();

    /// <summary>A blob of <paramref name="repo"/> and a link to it at <paramref name="inRepo"/> of a snapshot, relative as
    /// <c>huggingface_hub</c> makes it.</summary>
    private string Link(string repo, string commit, string inRepo, string blob, bool writeBlob = true)
    {
        var repoDir = Path.Combine(Root, repo);
        var blobPath = Path.Combine(repoDir, "blobs", blob);
        if (writeBlob)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(blobPath)!);
            File.WriteAllText(blobPath, "weights of " + blob);
        }
        var link = Path.Combine(repoDir, "snapshots", commit, inRepo);
        Directory.CreateDirectory(Path.GetDirectoryName(link)!);
        File.CreateSymbolicLink(link, Path.GetRelativePath(Path.GetDirectoryName(link)!, blobPath));
        return link;
    }

    private void Ref(string repo, string commit)
    {
        var refs = Path.Combine(Root, repo, "refs");
        Directory.CreateDirectory(refs);
        File.WriteAllText(Path.Combine(refs, "main"), commit);
    }

    [Fact]
    public void AMissingCache_IsAnEmptyStore()
    {
        var store = new HuggingFaceCache(Root);
        Assert.Equal(ModelSources.HuggingFace, store.Source);
        Assert.Equal(Root, store.Root);
        Assert.Empty(store.Scan().Models);
    }

    [Fact]
    public void EveryGgufOfASnapshot_IsAModel_NamedByItsFile_WithItsRepoPath_AndItsBlobsSha256()
    {
        const string repo = "models--bartowski--Llama-3.2-1B-Instruct-GGUF";
        Ref(repo, CommitMain);
        var q4 = Link(repo, CommitMain, "Llama-3.2-1B-Instruct-Q4_K_M.gguf", ShaMain);
        var sub = Link(repo, CommitMain, "quants/Llama-3.2-1B-Instruct-Q8_0.gguf", ShaSub);
        Link(repo, CommitMain, "README.md", "0123456789012345678901234567890123456789");
        Link(repo, CommitMain, "big-00001-of-00002.gguf", new string('d', 64));
        Link(repo, CommitMain, "big-00002-of-00002.gguf", new string('e', 64));
        Link(repo, CommitMain, "gone.gguf", new string('f', 64), writeBlob: false); // blob pruned: a dangling link
        Link("datasets--org--data", CommitMain, "data.gguf", ShaOld); // not a model repository

        var models = new HuggingFaceCache(Root).Scan().Models;

        Assert.Equal(
        [
            new StoredModel(q4, "Llama-3.2-1B-Instruct-Q4_K_M", "bartowski/Llama-3.2-1B-Instruct-GGUF:Llama-3.2-1B-Instruct-Q4_K_M.gguf", ShaMain),
            new StoredModel(sub, "Llama-3.2-1B-Instruct-Q8_0", "bartowski/Llama-3.2-1B-Instruct-GGUF:quants/Llama-3.2-1B-Instruct-Q8_0.gguf", ShaSub),
        ], models);
    }

    [Fact]
    public void AFileInSeveralSnapshots_IsTheOneRefsMainNames_ElseTheNewestSnapshots()
    {
        const string withMain = "models--org--with-main";
        var oldOfMain = Link(withMain, CommitOld, "m.gguf", ShaOld);
        var mainOfMain = Link(withMain, CommitMain, "m.gguf", ShaMain);
        // The older snapshot is the newer directory here: refs/main still decides.
        Directory.SetLastWriteTimeUtc(Path.GetDirectoryName(mainOfMain)!, DateTime.UtcNow.AddDays(-2));
        Directory.SetLastWriteTimeUtc(Path.GetDirectoryName(oldOfMain)!, DateTime.UtcNow.AddDays(-1));
        Ref(withMain, CommitMain);

        const string noRef = "models--org--no-ref";
        var older = Link(noRef, CommitOld, "n.gguf", ShaOld);
        var newer = Link(noRef, CommitMain, "n.gguf", ShaMain);
        Link(noRef, CommitOld, "only-old.gguf", ShaSub);
        Directory.SetLastWriteTimeUtc(Path.GetDirectoryName(older)!, DateTime.UtcNow.AddDays(-2));
        Directory.SetLastWriteTimeUtc(Path.GetDirectoryName(newer)!, DateTime.UtcNow.AddDays(-1));

        var models = new HuggingFaceCache(Root).Scan().Models;

        // Repositories by folder name, files by path in the repository.
        Assert.Equal([newer, Path.Combine(Path.GetDirectoryName(older)!, "only-old.gguf"), mainOfMain], models.Select(m => m.Path));
        Assert.Equal([ShaMain, ShaSub, ShaMain], models.Select(m => m.Sha256));
    }

    [Fact]
    public void AFileThatIsNoLink_OrALinkToABlobNamedByGitHash_HasNoSha256_AndARepoWithoutOrgIsNamedAlone()
    {
        var plain = Path.Combine(Root, "models--gpt2", "snapshots", CommitMain, "gpt2.gguf");
        Directory.CreateDirectory(Path.GetDirectoryName(plain)!);
        File.WriteAllText(plain, "copied, not linked (a file system without links)");
        var gitHashed = Link("models--org--small", CommitMain, "small.gguf", "0123456789abcdef0123456789abcdef01234567");

        var models = new HuggingFaceCache(Root).Scan().Models;

        Assert.Equal([new StoredModel(plain, "gpt2", "gpt2:gpt2.gguf", null), new StoredModel(gitHashed, "small", "org/small:small.gguf", null)], models);
    }

    [Theory]
    [InlineData("models--org--repo", "org/repo")]
    [InlineData("models--gpt2", "gpt2")]
    [InlineData("datasets--org--repo", null)]
    [InlineData("models--", null)]
    public void TheRepoOfACacheFolder(string folder, string? repo) => Assert.Equal(repo, HuggingFaceCache.RepoId(folder));

    [Theory]
    [InlineData("m-00001-of-00003.gguf", true)]
    [InlineData("M-00003-OF-00003.GGUF", true)]
    [InlineData("m-Q4_K_M.gguf", false)]
    [InlineData("m-00001-of-00003.gguf.part", false)]
    public void SplitParts_AreTold(string name, bool split) => Assert.Equal(split, HuggingFaceCache.IsSplitPart(name));
}
