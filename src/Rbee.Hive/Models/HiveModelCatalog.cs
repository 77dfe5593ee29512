using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Wire;
using Rbee.Hive.Monitoring;
using Rbee.Models;
using Rbee.Models.Downloads;
using Rbee.Models.Stores;

namespace Rbee.Hive.Models;

/// <summary>
/// Every model this hive can start a worker for (<c>GET /v1/catalog</c>): the <c>*.gguf</c> files of the models
/// directory, then of <see cref="ModelsOptions.Paths"/>, then of the Hugging Face hub cache and of Ollama's store (read in
/// place, under the names those tools give them: <see cref="HuggingFaceCache"/>, <see cref="OllamaStore"/>), each described
/// from its header (<see cref="ModelFiles"/>) and marked with where it was found (<see cref="ModelInfo.Source"/>). A file of
/// the models directory that a download recorded (<see cref="ModelProvenance"/>) also carries its origin and sha256.
/// <para>
/// Changes are seen at once: each directory is watched on the hive's one inotify instance, and the first event of a
/// burst schedules a rescan <see cref="ModelsOptions.Debounce"/> later. A periodic rescan is the safety net (lost events,
/// a directory created after start). A rescan lists and stats; it parses only a file whose (path, size, mtime) it has
/// not seen, so an unchanged catalog costs no reads of model files. <see cref="Version"/> grows only when the list of
/// (id, path, size, mtime, source, origin, sha256) changes, and <see cref="Changed"/> then makes telemetry send a frame at
/// once, so the queen learns of the new version within milliseconds (DESIGN.md "Discovery and telemetry" 3). The stores
/// are not watched: a pull writes deep in their trees (a snapshot link, a manifest), and the periodic rescan finds it within
/// <see cref="ModelsOptions.RescanInterval"/>.
/// </para>
/// <para>
/// A file that is not valid GGUF is not listed and is reported once per (path, size, mtime). A file shorter than its
/// header says is being copied: it is not listed, and not reported, until it is complete (or has stayed unchanged for
/// <see cref="ModelsOptions.IncompleteWarnAfter"/>, when it is reported once as truncated). Two files with one id: the
/// first source wins, and the other is reported once. One file under two ids (an Ollama blob that two names share) is
/// listed under both; one file under one id through two sources is listed once.
/// </para>
/// </summary>
public sealed partial class HiveModelCatalog : IModelCatalogView, IHostedService, IDisposable
{
    private const uint WatchMask = Libc.IN_CREATE | Libc.IN_CLOSE_WRITE | Libc.IN_MOVED_TO | Libc.IN_MOVED_FROM | Libc.IN_DELETE
        | Libc.IN_DELETE_SELF | Libc.IN_MOVE_SELF | Libc.IN_ONLYDIR;

    private static readonly EnumerationOptions ListingOptions = new()
    {
        RecurseSubdirectories = false,
        IgnoreInaccessible = true,
        AttributesToSkip = 0,
        MatchType = MatchType.Simple,
    };

    private readonly ModelsOptions _options;
    private readonly IReadOnlyList<Source> _sources;
    private readonly IReadOnlyList<IModelStore> _stores;
    private readonly IReadOnlyList<WatchedDirectory> _directories;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Inotify? _sharedInotify;
    private readonly object _scanGate = new();
    private Inotify? _inotify;
    private ITimer? _debounce;
    private ITimer? _periodic;
    private int _rescanPending;
    private long _parses;
    private bool _disposed;

    // Owned by the scan (under _scanGate): what each file was when last parsed, and the duplicates already reported.
    private Dictionary<string, CachedFile> _files = new(StringComparer.Ordinal);
    private HashSet<string> _reportedDuplicates = new(StringComparer.Ordinal);
    private Dictionary<string, CachedProvenance> _provenance = new(StringComparer.Ordinal);
    private readonly HashSet<string> _unreadableSources = new(StringComparer.Ordinal);
    private volatile ModelCatalogSnapshot _snapshot = ModelCatalogSnapshot.Empty;

    /// <param name="modelsDirectory">The models directory (<c>Hive:ModelsDir</c>), full path; it may not exist yet.</param>
    /// <param name="inotify">The hive's inotify instance; a catalog built without one (tests) makes and owns its own.</param>
    public HiveModelCatalog(string modelsDirectory, ModelsOptions options, TimeProvider time, ILogger<HiveModelCatalog> logger, Inotify? inotify = null)
    {
        ModelsDirectory = Path.GetFullPath(modelsDirectory);
        _options = options;
        _time = time;
        _logger = logger;
        _sharedInotify = inotify;
        _sources =
        [
            new Source(ModelsDirectory, IsDirectory: true, ModelSources.ModelsDir),
            .. options.ResolvedPaths.Select(p => new Source(p, Directory.Exists(p), ModelSources.Configured)),
        ];
        var stores = new List<IModelStore>();
        if (options.ResolvedHuggingFaceCache is { } hf) stores.Add(new HuggingFaceCache(hf));
        if (options.ResolvedOllamaModels is { } ollama) stores.Add(new OllamaStore(ollama));
        _stores = stores;
        // One watch per directory: a directory source is watched whole; a file source through its directory, for its name.
        _directories = _sources
            .GroupBy(s => s.IsDirectory ? s.Path : Path.GetDirectoryName(s.Path)!, StringComparer.Ordinal)
            .Select(g => new WatchedDirectory(g.Key, g.Any(s => s.IsDirectory),
                g.Where(s => !s.IsDirectory).Select(s => Path.GetFileName(s.Path)).ToHashSet(StringComparer.Ordinal)))
            .ToList();
    }

    /// <summary>Where a model given by name is looked for, and the first source of the catalog.</summary>
    public string ModelsDirectory { get; }

    /// <summary>The stores of other tools this catalog lists (full paths; a store may not exist yet).</summary>
    public IReadOnlyList<string> StoreRoots => _stores.Select(s => s.Root).ToList();

    /// <summary>Every directory or file the catalog lists models from: the models directory, <c>Models:Paths</c>, the stores.
    /// A model the catalog lists lies in or below one of them.</summary>
    public IReadOnlyList<string> Roots => [.. _sources.Select(s => s.Path), .. StoreRoots];

    /// <summary>
    /// Where a spawn may name a model by path: the models directory, <c>Models:Paths</c>, the Hugging Face hub cache
    /// (snapshots link into its <c>blobs/</c>) and Ollama's <c>blobs/</c> (its manifests are not models).
    /// </summary>
    public ModelPathConfinement Confinement => _confinement ??= new ModelPathConfinement(
        [.. _sources.Select(s => s.Path), .. _stores.Select(s => s is OllamaStore ollama ? Path.Combine(ollama.Root, "blobs") : s.Root)]);

    private ModelPathConfinement? _confinement;

    public ModelCatalogSnapshot Snapshot => _snapshot;

    public long Version => _snapshot.Version;

    public event Action? Changed;

    /// <summary>Model files parsed so far: stays put while nothing changes (the cache at work).</summary>
    public long ParseCount => Interlocked.Read(ref _parses);

    /// <summary>The id a worker on <paramref name="path"/> answers to: the catalog's when the file is listed (the first id,
    /// for a file listed under several), else its file name without extension (what llm-worker-rbee would choose itself).</summary>
    public string ModelIdOf(string path) =>
        _snapshot.AtPath(Path.GetFullPath(path))?.Id ?? Rbee.Models.ModelFiles.IdOf(path);

    Task IHostedService.StartAsync(CancellationToken cancellationToken)
    {
        Start();
        return Task.CompletedTask;
    }

    Task IHostedService.StopAsync(CancellationToken cancellationToken)
    {
        StopTimers();
        return Task.CompletedTask;
    }

    /// <summary>Creates the models directory when it is missing, watches the directories, scans once, and starts the
    /// periodic rescan.</summary>
    public void Start()
    {
        // The hive's own models directory exists from its start (as Ollama's does), so the first file a person copies into
        // a fresh setup is seen through inotify at once, not by the next safety-net rescan.
        try { Directory.CreateDirectory(ModelsDirectory); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { Log.ModelsDirectoryNotCreated(_logger, ModelsDirectory, e.Message); }
        _inotify = _sharedInotify ?? new Inotify(_logger);
        _debounce = _time.CreateTimer(_ => OnDebounceElapsed(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        Rescan();
        _periodic = _time.CreateTimer(_ => SafeRescan(), null, _options.RescanInterval, _options.RescanInterval);
    }

    /// <summary>Lists every source, parses what changed, and publishes a new version when the list changed.</summary>
    public void Rescan()
    {
        ModelCatalogSnapshot? published = null;
        lock (_scanGate)
        {
            if (_disposed) return;
            // Watches first, then the listing: a file that arrives in between is both listed and announced.
            SyncWatches();
            var now = _time.GetUtcNow();
            var files = new Dictionary<string, CachedFile>(_files.Count, StringComparer.Ordinal);
            var provenance = new Dictionary<string, CachedProvenance>(StringComparer.Ordinal);
            var duplicates = new HashSet<string>(StringComparer.Ordinal);
            var winners = new Dictionary<string, string>(StringComparer.Ordinal);
            var models = new List<ModelInfo>();
            foreach (var found in List())
            {
                var path = found.Path;
                var firstSight = !files.TryGetValue(path, out var file);
                if (firstSight)
                {
                    file = _files.TryGetValue(path, out var known) && known.Stamp == found.Stamp ? known : Parse(path, found.Stamp, now);
                    files[path] = file;
                }
                if (file!.Model is { } parsed)
                {
                    var id = found.Id ?? parsed.Id;
                    if (winners.TryGetValue(id, out var winner))
                    {
                        if (winner == path) continue; // the same file under the same id through two sources: one entry
                        var key = id + "\0" + path;
                        duplicates.Add(key);
                        if (!_reportedDuplicates.Contains(key)) Log.DuplicateId(_logger, id, path, winner);
                        continue;
                    }
                    winners[id] = path;
                    var (origin, sha256) = (found.Origin, found.Sha256);
                    if (found.Source == ModelSources.ModelsDir && Provenance(path, found.Stamp, provenance) is { } record)
                        (origin, sha256) = (record.Origin, record.Sha256);
                    models.Add(parsed with { Id = id, Source = found.Source, Origin = origin, Sha256 = sha256 });
                }
                else if (firstSight && file.Incomplete && !file.Reported && now - file.FirstSeen >= _options.IncompleteWarnAfter)
                {
                    file.Reported = true;
                    Log.StillIncomplete(_logger, path, now - file.FirstSeen, file.Problem!);
                }
            }
            _files = files;
            _provenance = provenance;
            _reportedDuplicates = duplicates;
            if (!SameList(_snapshot.Models, models))
            {
                published = new ModelCatalogSnapshot(_snapshot.Version + 1, models);
                _snapshot = published;
                // The ids say what changed at a glance; a directory of hundreds is named by its first few.
                var ids = string.Join(", ", models.Take(20).Select(m => m.Id)) + (models.Count > 20 ? ", …" : "");
                Log.CatalogChanged(_logger, published.Version, models.Count, ids);
            }
        }
        if (published is not null) Changed?.Invoke();
    }

    private void SafeRescan()
    {
        try { Rescan(); }
        catch (Exception e) { Log.ScanFailed(_logger, e); }
    }

    private static bool SameList(IReadOnlyList<ModelInfo> a, List<ModelInfo> b)
    {
        if (a.Count != b.Count) return false;
        for (var i = 0; i < a.Count; i++)
            if (a[i].Id != b[i].Id || a[i].Path != b[i].Path || a[i].SizeBytes != b[i].SizeBytes || a[i].ModifiedAt != b[i].ModifiedAt
                || a[i].Source != b[i].Source || a[i].Origin != b[i].Origin || a[i].Sha256 != b[i].Sha256) return false;
        return true;
    }

    private CachedFile Parse(string path, FileStamp stamp, DateTimeOffset now)
    {
        Interlocked.Increment(ref _parses);
        try
        {
            return new CachedFile(stamp, now) { Model = ModelFiles.Describe(path) };
        }
        catch (IncompleteModelFileException e)
        {
            // Being copied: silence until it changes, or until it has stayed this way too long (see Rescan).
            Log.Incomplete(_logger, path, e.Message);
            return new CachedFile(stamp, now) { Incomplete = true, Problem = e.Message };
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Not GGUF, unreadable, or absurd in a way the reader did not foresee: one file never stops the catalog.
            // One warning per (path, size, mtime): the entry stays cached until the file changes.
            Log.NotAModel(_logger, path, e.Message);
            return new CachedFile(stamp, now) { Problem = e.Message };
        }
    }

    /// <summary>The provenance record of a models-directory file, read again only when the record or the file changed.</summary>
    private ModelProvenance? Provenance(string path, FileStamp file, Dictionary<string, CachedProvenance> next)
    {
        // A stat per file and scan; the record is read only when it (or the file it describes) changed.
        if (Stamp(new FileInfo(ModelProvenance.PathFor(path))) is not { } recordStamp) return null;
        if (!_provenance.TryGetValue(path, out var cached) || cached.Record != recordStamp || cached.File != file)
            cached = new CachedProvenance(recordStamp, file, ModelProvenance.Read(path, file.Size, file.MtimeTicks));
        next[path] = cached;
        return cached.Value;
    }

    /// <summary>Every candidate file with its size and mtime: sources in order, names in ordinal order within a directory,
    /// then the stores in the order each lists them.</summary>
    private List<Candidate> List()
    {
        var found = new List<Candidate>();
        foreach (var source in _sources)
        {
            if (!source.IsDirectory)
            {
                if (Stamp(new FileInfo(source.Path)) is { } s) found.Add(new Candidate(source.Path, s, source.Kind));
                continue;
            }
            List<FileInfo> entries;
            try
            {
                entries = new DirectoryInfo(source.Path).EnumerateFiles("*", ListingOptions).Where(f => IsModelFileName(f.Name)).ToList();
            }
            catch (DirectoryNotFoundException)
            {
                continue; // not created yet, or removed: the periodic rescan looks again
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (_unreadableSources.Add(source.Path)) Log.SourceUnreadable(_logger, source.Path, e.Message);
                continue;
            }
            _unreadableSources.Remove(source.Path);
            entries.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            foreach (var f in entries)
                if (Stamp(f) is { } s) found.Add(new Candidate(f.FullName, s, source.Kind));
        }
        foreach (var store in _stores)
        {
            ModelStoreScan scan;
            try
            {
                scan = store.Scan();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (_unreadableSources.Add(store.Root)) Log.SourceUnreadable(_logger, store.Root, e.Message);
                continue;
            }
            _unreadableSources.Remove(store.Root);
            foreach (var problem in scan.Problems) Log.StoreEntrySkipped(_logger, store.Source, problem.Path, problem.Reason);
            foreach (var model in scan.Models)
                if (Stamp(new FileInfo(model.Path)) is { } s) found.Add(new Candidate(model.Path, s, store.Source, model.Id, model.Origin, model.Sha256));
        }
        return found;
    }

    /// <summary>Size and mtime of a file (of its target, for a symbolic link); null when it is gone or not a file.</summary>
    private static FileStamp? Stamp(FileInfo file)
    {
        try
        {
            if (!file.Exists) return null;
            if (file.Attributes.HasFlag(FileAttributes.ReparsePoint))
            {
                if (file.ResolveLinkTarget(returnFinalTarget: true) is not FileInfo { Exists: true } target) return null;
                file = target;
            }
            return new FileStamp(file.Length, file.LastWriteTimeUtc.Ticks);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary><c>*.gguf</c>, not hidden: a download's <c>x.gguf.part</c> and rsync's <c>.x.gguf.AbC123</c> are not models yet.</summary>
    public static bool IsModelFileName(string name) =>
        name.EndsWith(ModelFiles.Extension, StringComparison.OrdinalIgnoreCase) && !name.StartsWith('.') && name.Length > ModelFiles.Extension.Length;

    // ---- inotify ---------------------------------------------------------------------------------------------

    private void SyncWatches()
    {
        if (_inotify is null) return;
        foreach (var dir in _directories)
        {
            if (dir.Current is { Lost: true } lost)
            {
                _inotify.Remove(lost.Wd);
                dir.Current = null;
            }
            if (dir.Current is not null) continue;
            if (!Directory.Exists(dir.Path))
            {
                dir.AddFailed = false; // a directory that comes back is tried afresh
                continue;
            }
            // A watch that could not be added (no watches left, no permission) is not retried every scan: that would
            // repeat the warning every 2 s, and the periodic rescan sees the directory's changes anyway.
            if (dir.AddFailed) continue;
            var watch = new Watch();
            watch.Wd = _inotify.Add(dir.Path, WatchMask, (name, mask) => OnEvent(dir, watch, name, mask));
            if (watch.Wd >= 0) dir.Current = watch;
            else dir.AddFailed = true;
        }
    }

    /// <summary>On the inotify thread: decide whether the event matters and, if so, schedule a rescan. Never blocks.</summary>
    private void OnEvent(WatchedDirectory dir, Watch watch, string? name, uint mask)
    {
        if ((mask & (Libc.IN_IGNORED | Libc.IN_DELETE_SELF | Libc.IN_MOVE_SELF)) != 0)
        {
            // The directory itself went (or moved away): the rescan drops the watch and re-arms it if the path comes back.
            watch.Lost = true;
            ScheduleRescan();
        }
        else if (name is null) ScheduleRescan(); // events were lost (queue overflow)
        else if (IsModelFileName(name) && (dir.Whole || dir.Names.Contains(name))) ScheduleRescan();
    }

    /// <summary>The first event of a burst arms the debounce timer; later ones ride along with it.</summary>
    private void ScheduleRescan()
    {
        if (Interlocked.Exchange(ref _rescanPending, 1) == 0) _debounce?.Change(_options.Debounce, Timeout.InfiniteTimeSpan);
    }

    private void OnDebounceElapsed()
    {
        // Cleared before the scan: an event that lands during it schedules the next one.
        Interlocked.Exchange(ref _rescanPending, 0);
        SafeRescan();
    }

    private void StopTimers()
    {
        _periodic?.Dispose();
        _debounce?.Dispose();
    }

    public void Dispose()
    {
        lock (_scanGate)
        {
            if (_disposed) return;
            _disposed = true;
        }
        StopTimers();
        if (_sharedInotify is null) _inotify?.Dispose();
        else
            foreach (var dir in _directories)
                if (dir.Current is { } w) _sharedInotify.Remove(w.Wd);
    }

    private sealed record Source(string Path, bool IsDirectory, string Kind);

    /// <summary>A file to list: where it was found, and what its store says of it (a null id is the file name's).</summary>
    private sealed record Candidate(string Path, FileStamp Stamp, string Source, string? Id = null, string? Origin = null, string? Sha256 = null);

    private readonly record struct FileStamp(long Size, long MtimeTicks);

    /// <summary>A provenance record as last read: valid while neither the record nor the file changed.</summary>
    private sealed record CachedProvenance(FileStamp Record, FileStamp File, ModelProvenance? Value);

    /// <summary>What a file was when it was last parsed: a model, or why it is not one.</summary>
    private sealed class CachedFile(FileStamp stamp, DateTimeOffset firstSeen)
    {
        public FileStamp Stamp { get; } = stamp;
        public DateTimeOffset FirstSeen { get; } = firstSeen;
        public ModelInfo? Model { get; init; }
        public bool Incomplete { get; init; }
        public string? Problem { get; init; }
        public bool Reported { get; set; }
    }

    private sealed class WatchedDirectory(string path, bool whole, IReadOnlySet<string> names)
    {
        public string Path { get; } = path;
        public bool Whole { get; } = whole;
        public IReadOnlySet<string> Names { get; } = names;
        public Watch? Current { get; set; }
        public bool AddFailed { get; set; }
    }

    /// <summary>One registration on the inotify instance: an event of an old one (a removed directory) only marks that one.</summary>
    private sealed class Watch
    {
        public int Wd = -1;
        public volatile bool Lost;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = HiveEventIds.ModelsDirectoryNotCreated, Level = LogLevel.Warning, Message = "Cannot create the models directory {Path}: {Reason}; it is watched once it exists")]
        public static partial void ModelsDirectoryNotCreated(ILogger logger, string path, string reason);

        [LoggerMessage(EventId = HiveEventIds.ModelsChanged, Level = LogLevel.Information, Message = "Model catalog version {Version}: {Count} models ({Ids})")]
        public static partial void CatalogChanged(ILogger logger, long version, int count, string ids);

        [LoggerMessage(EventId = HiveEventIds.ModelFileInvalid, Level = LogLevel.Warning, Message = "{Path} is not listed: not a usable GGUF file ({Reason})")]
        public static partial void NotAModel(ILogger logger, string path, string reason);

        [LoggerMessage(EventId = HiveEventIds.ModelFileIncomplete, Level = LogLevel.Debug, Message = "{Path} is not listed yet: incomplete, probably still being copied ({Reason})")]
        public static partial void Incomplete(ILogger logger, string path, string reason);

        [LoggerMessage(EventId = HiveEventIds.ModelFileStillIncomplete, Level = LogLevel.Warning, Message = "{Path} is not listed: it has been incomplete and unchanged for {For}, so it is truncated rather than being copied ({Reason})")]
        public static partial void StillIncomplete(ILogger logger, string path, TimeSpan @for, string reason);

        [LoggerMessage(EventId = HiveEventIds.ModelIdDuplicate, Level = LogLevel.Warning, Message = "Model id {Id} of {Path} is already taken by {Winner}; that file is not listed (the first source wins)")]
        public static partial void DuplicateId(ILogger logger, string id, string path, string winner);

        [LoggerMessage(EventId = HiveEventIds.ModelSourceUnreadable, Level = LogLevel.Warning, Message = "Cannot list the model directory {Path}: {Reason}")]
        public static partial void SourceUnreadable(ILogger logger, string path, string reason);

        [LoggerMessage(EventId = HiveEventIds.ModelStoreEntrySkipped, Level = LogLevel.Warning, Message = "{Store} entry {Path} is not listed: {Reason}")]
        public static partial void StoreEntrySkipped(ILogger logger, string store, string path, string reason);

        [LoggerMessage(EventId = HiveEventIds.ModelScanFailed, Level = LogLevel.Error, Message = "Model catalog scan failed")]
        public static partial void ScanFailed(ILogger logger, Exception error);
    }
}
