using Microsoft.Extensions.Logging;
using Rbee.Contracts.Wire;
using Rbee.Hive.Models;
using Rbee.Hive.Tests.Support;
using Rbee.Models.Downloads;
using Rbee.Testing;
using Rbee.Testing.Gguf;

namespace Rbee.Hive.Tests.Models;

/// <summary>
/// The hive's model catalog on real files and real inotify. Time is the test's (<see cref="TimerWatch"/>): the debounce
/// and the periodic rescan run only when the test advances the clock, so a change seen after one debounce, with the
/// periodic rescan still in the future, was seen through inotify; and a rescan that changes nothing is proven to change
/// nothing, exactly.
/// </summary>
public sealed class HiveModelCatalogTests : IDisposable
{
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan RescanInterval = TimeSpan.FromSeconds(2);

    private readonly string _root = Directory.CreateTempSubdirectory("rbee-catalog-").FullName;
    private readonly TimerWatch _clock = new();
    private readonly RecordingLogger<HiveModelCatalog> _log = new();
    private HiveModelCatalog? _catalog;
    private int _changes;

    public HiveModelCatalogTests()
    {
        ModelsDir = Path.Combine(_root, "models");
        Staging = Path.Combine(_root, "staging");
        Directory.CreateDirectory(ModelsDir);
        Directory.CreateDirectory(Staging);
    }

    private string ModelsDir { get; }

    /// <summary>Outside every source: files are made here, then copied or moved in, as an operator would.</summary>
    private string Staging { get; }

    private HiveModelCatalog Catalog => _catalog ?? throw new InvalidOperationException("not started");

    /// <summary>The Hugging Face hub cache and Ollama's store the catalog reads (not created: a test makes what it needs),
    /// so no test sees the machine's own.</summary>
    private string Hub => Path.Combine(_root, "hf-hub");

    private string Ollama => Path.Combine(_root, "ollama");

    public void Dispose()
    {
        _catalog?.Dispose();
        try { Directory.Delete(_root, recursive: true); }
        catch (IOException) { }
    }

    private HiveModelCatalog Start(params string[] paths) => StartWith(o => o.Paths = paths);

    private HiveModelCatalog StartWith(Action<ModelsOptions> configure)
    {
        var options = new ModelsOptions { Debounce = Debounce, RescanInterval = RescanInterval, HuggingFaceCache = Hub, OllamaModels = Ollama };
        configure(options);
        Assert.Null(options.Validate());
        _catalog = new HiveModelCatalog(ModelsDir, options, _clock, _log);
        _catalog.Changed += () => Interlocked.Increment(ref _changes);
        _catalog.Start();
        return _catalog;
    }

    /// <summary>A small valid model (one layer, 32 tokens): a few KiB, parsed in microseconds.</summary>
    private static string MakeModel(string path, int seed = 1)
    {
        RandomLlama.Write(path, new RandomLlamaSpec { Layers = 1, Vocab = 32, Seed = seed, Context = 256 + seed });
        return path;
    }

    private string Staged(string name, int seed = 1) => MakeModel(Path.Combine(Staging, name), seed);

    private string InModels(string name) => Path.Combine(ModelsDir, name);

    private IReadOnlyList<string> Ids => Catalog.Snapshot.Models.Select(m => m.Id).ToList();

    /// <summary>
    /// Makes a change in a watched directory, waits until inotify has armed the debounce (real time, bounded), and lets it
    /// elapse: the rescan that follows runs on this thread, inside <see cref="TimerWatch.AdvanceBy"/>.
    /// </summary>
    private async Task ThroughInotifyAsync(string phase, Action change)
    {
        var before = _clock.Elapsed;
        change();
        await _clock.WaitForTimerAsync(before + Debounce, $"{phase}: inotify arms the debounce");
        _clock.AdvanceBy(Debounce);
        Assert.True(before.Ticks / RescanInterval.Ticks == _clock.Elapsed.Ticks / RescanInterval.Ticks,
            $"{phase}: a periodic rescan fell in the debounce; the change must be seen through inotify alone");
    }

    /// <summary>Lets <paramref name="count"/> periodic rescans run.</summary>
    private void PeriodicRescans(int count)
    {
        for (var i = 0; i < count; i++)
        {
            var next = TimeSpan.FromTicks((_clock.Elapsed.Ticks / RescanInterval.Ticks + 1) * RescanInterval.Ticks);
            _clock.AdvanceTo(next);
        }
    }

    private List<LogEntry> Logged(int eventId) => _log.Entries.Where(e => e.EventId == eventId).ToList();

    [Fact]
    public void AMissingModelsDirectory_IsCreatedAtStart_SoTheFirstFileCopiedIntoIt_IsWatched()
    {
        Directory.Delete(ModelsDir);
        Start();
        Assert.True(Directory.Exists(ModelsDir));
        Assert.Empty(Catalog.Snapshot.Models);
    }

    [Fact]
    public void AScan_ListsTheGgufFiles_NotPartialNorHiddenNorOtherFiles_ByName()
    {
        MakeModel(InModels("b-model.gguf"), seed: 2);
        MakeModel(InModels("a-model.gguf"));
        MakeModel(InModels("c-model.gguf.part"));
        MakeModel(InModels(".d-model.gguf"));
        File.WriteAllText(InModels("notes.txt"), "hello");
        Directory.CreateDirectory(InModels("sub"));
        MakeModel(Path.Combine(InModels("sub"), "e-model.gguf"));
        File.CreateSymbolicLink(InModels("f-linked.gguf"), Staged("elsewhere.gguf", seed: 6));

        Start();

        Assert.Equal(["a-model", "b-model", "f-linked"], Ids);
        Assert.Equal(1, Catalog.Version);
        var a = Catalog.Snapshot.Models[0];
        Assert.Equal(InModels("a-model.gguf"), a.Path);
        Assert.Equal("llama", a.Architecture);
        Assert.Equal(257, a.ContextLength);
        Assert.Equal(new FileInfo(a.Path).Length, a.SizeBytes);
        var linked = Catalog.Snapshot.Models[2];
        Assert.Equal(InModels("f-linked.gguf"), linked.Path); // the name the operator gave it; the target's size
        Assert.Equal(new FileInfo(Path.Combine(Staging, "elsewhere.gguf")).Length, linked.SizeBytes);
        Assert.Equal(262, linked.ContextLength);
        Assert.Empty(_log.AtLeast(LogLevel.Warning));
    }

    [Fact]
    public void AnUnchangedFile_IsNeverParsedAgain_AChangedOne_IsParsedOnce()
    {
        var a = MakeModel(InModels("a.gguf"));
        var b = MakeModel(InModels("b.gguf"));
        Start();
        Assert.Equal(2, Catalog.ParseCount);

        PeriodicRescans(5);
        Assert.Equal(2, Catalog.ParseCount);
        Assert.Equal(1, Catalog.Version);

        // A new mtime alone is a change: parsed again, and the list (which carries mtimes) has a new version.
        File.SetLastWriteTimeUtc(a, File.GetLastWriteTimeUtc(a) + TimeSpan.FromMinutes(1));
        PeriodicRescans(3);
        Assert.Equal(3, Catalog.ParseCount);
        Assert.Equal(2, Catalog.Version);

        // A new size (a different model under the same name): parsed once more.
        RandomLlama.Write(b, new RandomLlamaSpec { Layers = 2, Vocab = 32 });
        PeriodicRescans(3);
        Assert.Equal(4, Catalog.ParseCount);
        Assert.Equal(3, Catalog.Version);
        Assert.Equal(2, Catalog.Snapshot.Models.Single(m => m.Id == "b").BlockCount);
    }

    [Fact]
    public async Task CopyRenameMoveOutMoveInDelete_AreEachSeenThroughInotify_BeforeAnyPeriodicRescan()
    {
        Start();
        Assert.Equal(0, Catalog.Version);
        Assert.Empty(Ids);
        var source = Staged("tiny.gguf");

        await ThroughInotifyAsync("copy in", () => File.Copy(source, InModels("tiny.gguf")));
        Assert.Equal(["tiny"], Ids);
        Assert.Equal(1, Catalog.Version);

        await ThroughInotifyAsync("rename", () => File.Move(InModels("tiny.gguf"), InModels("renamed.gguf")));
        Assert.Equal(["renamed"], Ids);
        Assert.Equal(2, Catalog.Version);

        await ThroughInotifyAsync("move out", () => File.Move(InModels("renamed.gguf"), Path.Combine(Staging, "away.gguf")));
        Assert.Empty(Ids);

        await ThroughInotifyAsync("move in", () => File.Move(Path.Combine(Staging, "away.gguf"), InModels("back.gguf")));
        Assert.Equal(["back"], Ids);

        await ThroughInotifyAsync("delete", () => File.Delete(InModels("back.gguf")));
        Assert.Empty(Ids);
        Assert.Equal(5, Catalog.Version);
        Assert.Equal(5, _changes);
    }

    [Fact]
    public async Task TheVersion_GrowsOnlyWhenTheListChanges()
    {
        MakeModel(InModels("a.gguf"));
        Start();
        Assert.Equal((1L, 1), (Catalog.Version, _changes));

        Catalog.Rescan();
        Catalog.Rescan();
        PeriodicRescans(2);
        File.WriteAllText(InModels("readme.txt"), "not a model, not a change");
        Catalog.Rescan();
        Assert.Equal((1L, 1), (Catalog.Version, _changes));

        await ThroughInotifyAsync("add b", () => File.Copy(Staged("b.gguf"), InModels("b.gguf")));
        Assert.Equal((2L, 2), (Catalog.Version, _changes));
        Assert.Equal(["a", "b"], Ids);
    }

    [Fact]
    public async Task AFileStillBeingCopied_IsNotListedNorReported_UntilItIsComplete()
    {
        var full = File.ReadAllBytes(Staged("big.gguf"));
        Start();
        var target = InModels("big.gguf");

        await using (var copy = new FileStream(target, FileMode.CreateNew, FileAccess.Write))
        {
            // The copy has begun (IN_CREATE) and written half the file: a rescan finds it incomplete.
            await ThroughInotifyAsync("copy begun", () =>
            {
                copy.Write(full, 0, full.Length / 2);
                copy.Flush();
            });
            Assert.Empty(Ids);
            Assert.Equal(1, Catalog.ParseCount);
            Assert.Equal(0, Catalog.Version);

            // It ends: the rest and the close (IN_CLOSE_WRITE).
            await ThroughInotifyAsync("copy ended", () =>
            {
                copy.Write(full, full.Length / 2, full.Length - full.Length / 2);
                copy.Dispose();
            });
        }
        Assert.Equal(["big"], Ids);
        Assert.Equal(1, Catalog.Version);
        Assert.Empty(_log.AtLeast(LogLevel.Warning));
        Assert.Single(Logged(HiveEventIds.ModelFileIncomplete)); // at Debug, once
    }

    [Fact]
    public void AFileThatStaysIncomplete_IsReportedOnce_AsTruncated()
    {
        var full = File.ReadAllBytes(Staged("cut.gguf"));
        File.WriteAllBytes(InModels("cut.gguf"), full[..(full.Length / 2)]);
        Start();
        Assert.Empty(Ids);

        _clock.AdvanceBy(new ModelsOptions().IncompleteWarnAfter - TimeSpan.FromSeconds(3));
        Assert.Empty(Logged(HiveEventIds.ModelFileStillIncomplete));
        _clock.AdvanceBy(TimeSpan.FromMinutes(5));
        var warning = Assert.Single(Logged(HiveEventIds.ModelFileStillIncomplete));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("cut.gguf", warning.Message, StringComparison.Ordinal);
        Assert.Equal(1, Catalog.ParseCount);
    }

    [Fact]
    public void AFileThatIsNotGguf_IsNotListed_AndReportedOncePerSizeAndMtime()
    {
        MakeModel(InModels("good.gguf"));
        File.WriteAllText(InModels("bad.gguf"), "this is not a model file");
        Start();
        Assert.Equal(["good"], Ids);
        var warning = Assert.Single(Logged(HiveEventIds.ModelFileInvalid));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("not a GGUF file", warning.Message, StringComparison.Ordinal);

        PeriodicRescans(5);
        Catalog.Rescan();
        Assert.Single(Logged(HiveEventIds.ModelFileInvalid));

        File.WriteAllText(InModels("bad.gguf"), "still not a model file, but another one");
        PeriodicRescans(1);
        Assert.Equal(2, Logged(HiveEventIds.ModelFileInvalid).Count);
        Assert.Equal(1, Catalog.Version);
    }

    [Fact]
    public async Task ModelsPaths_AreListedAfterTheModelsDirectory_AndTheFirstSourceWinsADuplicateId()
    {
        var extraDir = Path.Combine(_root, "extra");
        Directory.CreateDirectory(extraDir);
        var otherDir = Path.Combine(_root, "other");
        Directory.CreateDirectory(otherDir);
        MakeModel(InModels("shared.gguf"));
        MakeModel(Path.Combine(extraDir, "shared.gguf"), seed: 2);
        MakeModel(Path.Combine(extraDir, "only-extra.gguf"));
        var single = MakeModel(Path.Combine(otherDir, "single.gguf"));
        MakeModel(Path.Combine(otherDir, "not-configured.gguf"));

        Start(extraDir, single);

        Assert.Equal(["shared", "only-extra", "single"], Ids);
        Assert.Equal(InModels("shared.gguf"), Catalog.Snapshot.Models[0].Path);
        var duplicate = Assert.Single(Logged(HiveEventIds.ModelIdDuplicate));
        Assert.Contains(Path.Combine(extraDir, "shared.gguf"), duplicate.Message, StringComparison.Ordinal);
        PeriodicRescans(3);
        Assert.Single(Logged(HiveEventIds.ModelIdDuplicate));

        // The winner goes: the other file with that id takes its place (seen through inotify on the models directory).
        await ThroughInotifyAsync("winner removed", () => File.Delete(InModels("shared.gguf")));
        Assert.Equal(["only-extra", "shared", "single"], Ids);
        Assert.Equal(Path.Combine(extraDir, "shared.gguf"), Catalog.Snapshot.TryGet("shared", out var now) ? now.Path : null);

        // A configured file is watched through its directory, for its name only.
        await ThroughInotifyAsync("configured file replaced", () => RandomLlama.Write(single, new RandomLlamaSpec { Layers = 3, Vocab = 32 }));
        Assert.Equal(3, Catalog.Snapshot.Models.Single(m => m.Id == "single").BlockCount);
        var version = Catalog.Version;
        MakeModel(Path.Combine(otherDir, "also-not-configured.gguf"));
        Catalog.Rescan();
        Assert.Equal(version, Catalog.Version);
        Assert.DoesNotContain("also-not-configured", Ids);
    }

    [Fact]
    public async Task AModelsDirectoryCreatedAfterStart_IsFoundByThePeriodicRescan_AndWatchedFromThen()
    {
        Directory.Delete(ModelsDir);
        Start();
        Assert.Equal(0, Catalog.Version);

        Directory.CreateDirectory(ModelsDir);
        File.Copy(Staged("first.gguf"), InModels("first.gguf"));
        PeriodicRescans(1);
        Assert.Equal(["first"], Ids);

        await ThroughInotifyAsync("second, through the new watch", () => File.Copy(Staged("second.gguf", 2), InModels("second.gguf")));
        Assert.Equal(["first", "second"], Ids);
    }

    [Fact]
    public async Task TheModelsDirectoryRemoved_EmptiesTheCatalog_AndItsReturnIsWatchedAgain()
    {
        MakeModel(InModels("a.gguf"));
        Start();
        Assert.Equal(["a"], Ids);

        await ThroughInotifyAsync("directory removed", () => Directory.Delete(ModelsDir, recursive: true));
        Assert.Empty(Ids);
        Assert.Equal(2, Catalog.Version);

        Directory.CreateDirectory(ModelsDir);
        PeriodicRescans(1);
        await ThroughInotifyAsync("a model in the new directory", () => File.Copy(Staged("b.gguf"), InModels("b.gguf")));
        Assert.Equal(["b"], Ids);
    }

    [Fact]
    public void TheIdAWorkerGets_IsTheCatalogsForAListedFile_ElseTheFileName()
    {
        var listed = MakeModel(InModels("listed.gguf"));
        Start();
        Assert.Equal("listed", Catalog.ModelIdOf(listed));
        // Only .gguf is the model suffix (ModelFiles.IdOf): the worker started on such a file answers to the same id.
        Assert.Equal("model.bin", Catalog.ModelIdOf(Path.Combine(Staging, "model.bin")));
    }

    [Fact]
    public void ModelsPaths_AreCheckedAtStartUp_WithOneLineNamingTheSetting()
    {
        var text = Path.Combine(_root, "notes.txt");
        File.WriteAllText(text, "x");
        Assert.Equal($"Models:Paths:1 '{_root}/missing' does not exist (give a .gguf file or a directory of them)",
            new ModelsOptions { Paths = [ModelsDir, $"{_root}/missing"] }.Validate());
        Assert.Contains("Models:Paths:0", new ModelsOptions { Paths = [text] }.Validate(), StringComparison.Ordinal);
        Assert.Contains("Models:Paths:0 is empty", new ModelsOptions { Paths = [" "] }.Validate(), StringComparison.Ordinal);
        Assert.Contains("Models:Debounce", new ModelsOptions { Debounce = TimeSpan.FromSeconds(5) }.Validate(), StringComparison.Ordinal);
        Assert.Null(new ModelsOptions { Paths = [ModelsDir, MakeModel(Path.Combine(_root, "one.gguf"))] }.Validate());
    }

    [Fact]
    public void TheRealFixtures_AreListedAsTheyAre()
    {
        foreach (var f in new[] { "aidreams260K.gguf", "rand-small-Q4_K_M.gguf" })
        {
            var src = f.StartsWith("rand", StringComparison.Ordinal) ? RepoPaths.Model("rand-small", f) : RepoPaths.Model(f);
            File.CreateSymbolicLink(InModels(f), src);
        }
        Start();
        Assert.Equal(["aidreams260K", "rand-small-Q4_K_M"], Ids);
        Assert.Equal(263_744, Catalog.Snapshot.Models[0].ParameterCount);
        Assert.Equal("Q4_K_M", Catalog.Snapshot.Models[1].Quantization);
    }

    [Fact]
    public void TheStores_AreListedAfterTheModelsDirectoryAndPaths_UnderTheirToolsNames_MarkedWithWhereEachCameFrom()
    {
        var mine = MakeModel(InModels("mine.gguf"));
        var mineSha = FakeModelStores.Sha256Of(mine);
        ModelProvenance.Write(mine, new ModelProvenance
        {
            Origin = "org/repo:mine.gguf", Sha256 = mineSha, Size = new FileInfo(mine).Length, MtimeTicks = File.GetLastWriteTimeUtc(mine).Ticks,
        });
        var extra = Path.Combine(_root, "extra");
        Directory.CreateDirectory(extra);
        MakeModel(Path.Combine(extra, "configured.gguf"), seed: 2);
        var hfSource = Staged("hf-source.gguf", seed: 3);
        var hf = FakeModelStores.AddHuggingFace(Hub, hfSource, "org/repo-GGUF", "sub/model-Q4_K_M.gguf");
        var olSource = Staged("ollama-source.gguf", seed: 4);
        var blob = FakeModelStores.AddOllama(Ollama, olSource, "tiny:latest", "tiny:3b", "hf.co/org/repo-GGUF:Q4_K_M");

        Start(extra);

        Assert.Equal(["mine", "configured", "model-Q4_K_M", "hf.co/org/repo-GGUF:Q4_K_M", "tiny:3b", "tiny:latest"], Ids);
        var models = Catalog.Snapshot.Models;
        Assert.Equal(
            [ModelSources.ModelsDir, ModelSources.Configured, ModelSources.HuggingFace, ModelSources.Ollama, ModelSources.Ollama, ModelSources.Ollama],
            models.Select(m => m.Source));
        Assert.Equal(["org/repo:mine.gguf", null, "org/repo-GGUF:sub/model-Q4_K_M.gguf", "hf.co/org/repo-GGUF:Q4_K_M",
            "registry.ollama.ai/library/tiny:3b", "registry.ollama.ai/library/tiny:latest"], models.Select(m => m.Origin));
        var hfSha = FakeModelStores.Sha256Of(hfSource);
        var olSha = FakeModelStores.Sha256Of(olSource);
        Assert.Equal([mineSha, null, hfSha, olSha, olSha, olSha], models.Select(m => m.Sha256));

        // Read in place: the link of the snapshot (the target's size), the blob itself, each described from its header.
        var fromHub = models[2];
        Assert.Equal(hf, fromHub.Path);
        Assert.Equal(new FileInfo(hfSource).Length, fromHub.SizeBytes);
        Assert.Equal(259, fromHub.ContextLength);
        Assert.All(models.Skip(3), m => Assert.Equal((blob, 260), (m.Path, m.ContextLength ?? 0)));

        // One blob, three names: parsed once, listed three times; the file's own id is its first name.
        Assert.Equal(4, Catalog.ParseCount);
        Assert.Equal("hf.co/org/repo-GGUF:Q4_K_M", Catalog.Snapshot.AtPath(blob)?.Id);
        Assert.Equal("hf.co/org/repo-GGUF:Q4_K_M", Catalog.ModelIdOf(blob));
        Assert.Equal([ModelsDir, extra, Hub, Ollama], Catalog.Roots);
        Assert.Empty(_log.AtLeast(LogLevel.Warning));

        PeriodicRescans(3);
        Assert.Equal((4L, 1L), (Catalog.ParseCount, Catalog.Version));
    }

    [Fact]
    public void AStoreThatDoesNotExist_IsQuietlyEmpty_AndFoundByThePeriodicRescanOnceItDoes()
    {
        MakeModel(InModels("a.gguf"));
        Start();
        Assert.Equal(["a"], Ids);
        PeriodicRescans(2);
        Assert.Empty(_log.AtLeast(LogLevel.Warning));

        FakeModelStores.AddOllama(Ollama, Staged("o.gguf"), "first:latest");
        FakeModelStores.AddHuggingFace(Hub, Staged("h.gguf", seed: 2), "org/repo", "h.gguf");
        PeriodicRescans(1);
        Assert.Equal(["a", "h", "first:latest"], Ids);
        Assert.Equal(2, Catalog.Version);
        Assert.Empty(_log.AtLeast(LogLevel.Warning));
    }

    [Fact]
    public void ABrokenOllamaManifest_IsReportedOnce_AndAStoresNameTakenByAnEarlierSource_IsNotListed()
    {
        FakeModelStores.AddOllama(Ollama, Staged("o.gguf"), "good:latest", "taken:latest");
        var broken = Path.Combine(Ollama, "manifests", "registry.ollama.ai", "library", "broken", "latest");
        Directory.CreateDirectory(Path.GetDirectoryName(broken)!);
        File.WriteAllText(broken, "{ not json");
        MakeModel(InModels("taken:latest.gguf"), seed: 2);

        Start();

        Assert.Equal(["taken:latest", "good:latest"], Ids);
        Assert.Equal(ModelSources.ModelsDir, Catalog.Snapshot.Models[0].Source);
        var skipped = Assert.Single(Logged(HiveEventIds.ModelStoreEntrySkipped));
        Assert.Contains($"ollama entry {broken} is not listed: not valid JSON", skipped.Message, StringComparison.Ordinal);
        Assert.Single(Logged(HiveEventIds.ModelIdDuplicate));
        PeriodicRescans(3);
        Assert.Single(Logged(HiveEventIds.ModelStoreEntrySkipped));
        Assert.Single(Logged(HiveEventIds.ModelIdDuplicate));
    }

    [Fact]
    public void ADownloadsProvenance_IsBelievedOnlyWhileTheFileIsTheOneItDescribes()
    {
        var file = MakeModel(InModels("pulled.gguf"));
        Start();
        Assert.Null(Catalog.Snapshot.Models[0].Origin);

        // Written after the file appeared: the next periodic rescan carries it, as a new version for the queen.
        var sha = FakeModelStores.Sha256Of(file);
        ModelProvenance.Write(file, new ModelProvenance
        {
            Origin = "org/repo:pulled.gguf", Sha256 = sha, Size = new FileInfo(file).Length, MtimeTicks = File.GetLastWriteTimeUtc(file).Ticks,
        });
        PeriodicRescans(1);
        Assert.Equal(("org/repo:pulled.gguf", sha), (Catalog.Snapshot.Models[0].Origin, Catalog.Snapshot.Models[0].Sha256));
        Assert.Equal(2, Catalog.Version);

        // Replaced by hand: the record no longer matches, so it says nothing.
        RandomLlama.Write(file, new RandomLlamaSpec { Layers = 2, Vocab = 32 });
        PeriodicRescans(1);
        Assert.Equal((null, null), (Catalog.Snapshot.Models[0].Origin, Catalog.Snapshot.Models[0].Sha256));
        Assert.Equal(3, Catalog.Version);
    }

    [Fact]
    public void AStoreSwitchedOff_IsNotRead()
    {
        FakeModelStores.AddOllama(Ollama, Staged("o.gguf"), "tiny:latest");
        FakeModelStores.AddHuggingFace(Hub, Staged("h.gguf", seed: 2), "org/repo", "h.gguf");
        StartWith(o => (o.ScanOllama, o.ScanHuggingFaceCache) = (false, false));
        Assert.Empty(Ids);
        Assert.Empty(Catalog.StoreRoots);
        Assert.Equal([ModelsDir], Catalog.Roots);
    }

    [Fact]
    public void StorePaths_AreCheckedAtStartUp_AStoreThatIsNotThereYetIsFine()
    {
        var file = MakeModel(Path.Combine(_root, "one.gguf"));
        Assert.Equal("Models:HuggingFaceCache is empty (leave it out to use the tool's own default)", new ModelsOptions { HuggingFaceCache = " " }.Validate());
        Assert.Equal($"Models:OllamaModels '{file}' is a file; give the store's directory", new ModelsOptions { OllamaModels = file }.Validate());
        var options = new ModelsOptions { HuggingFaceCache = $"{_root}/not-yet", OllamaModels = Ollama };
        Assert.Null(options.Validate());
        Assert.Equal(($"{_root}/not-yet", Ollama), (options.ResolvedHuggingFaceCache, options.ResolvedOllamaModels));
        Assert.Null(new ModelsOptions { ScanOllama = false, OllamaModels = Ollama }.ResolvedOllamaModels);
    }
}
