using System.Collections.Concurrent;
using System.Security.Cryptography;
using Rbee.Models.Downloads;
using Rbee.Models.Sources;
using Rbee.Testing;

namespace Rbee.Models.Tests.Downloads;

/// <summary>
/// <see cref="ModelDownloader"/> against a real HTTP server on loopback that answers like Hugging Face
/// (<see cref="HuggingFaceServer"/>: redirects with X-Linked-ETag, Range, cuts, wrong bytes, statuses), writing real files.
/// </summary>
public sealed class ModelDownloaderTests : IAsyncLifetime, IDisposable
{
    private const string Repo = "rbee-test/tiny";
    private const string File = "aidreams260K.gguf";
    private static readonly byte[] Model = System.IO.File.ReadAllBytes(RepoPaths.Model("aidreams260K.gguf"));
    private static readonly string ModelSha = Convert.ToHexStringLower(SHA256.HashData(Model));

    private readonly TempFiles _dir = new();
    private HuggingFaceServer _server = null!;
    private readonly Observer _observer = new();

    public async Task InitializeAsync()
    {
        _server = await HuggingFaceServer.StartAsync();
        _server.AddFile(Repo, File, Model);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose() => _dir.Dispose();

    private ModelDownloader Downloader(int attempts = 6, string? token = null, Func<string, long?>? freeSpace = null, TimeSpan? stall = null) =>
        new(ModelDownloader.CreateHttpClient("rbee-test"), new ModelDownloaderOptions
        {
            HuggingFaceEndpoint = _server.Endpoint.ToString(),
            HuggingFaceToken = token,
            MaxAttempts = attempts,
            RetryDelay = TimeSpan.FromMilliseconds(20),
            MaxRetryDelay = TimeSpan.FromMilliseconds(100),
            ProgressInterval = TimeSpan.FromMilliseconds(200),
            StallTimeout = stall ?? TimeSpan.FromSeconds(10),
        }, TimeProvider.System, freeSpace);

    private DownloadTarget Target(string name = "aidreams260K") => new(_dir.Directory, name);

    private async Task<DownloadResult> DownloadAsync(ModelDownloader downloader, string source = $"{Repo}:{File}", DownloadTarget? target = null, CancellationToken ct = default)
    {
        var reference = ModelReference.Parse(source);
        var (url, _) = await downloader.ResolveAsync(reference, ct);
        return await downloader.DownloadAsync(url, source, reference.Sha256, target ?? Target(), _observer, ct);
    }

    [Fact]
    public async Task Download_FollowsTheRedirect_VerifiesAgainstTheLinkedEtag_AndLeavesOnlyTheModelAndItsRecord()
    {
        var result = await DownloadAsync(Downloader());

        Assert.Equal((Target().FinalPath, ModelSha, (long)Model.Length, false), (result.Path, result.Sha256, result.Size, result.AlreadyPresent));
        Assert.Equal(Model, System.IO.File.ReadAllBytes(result.Path));
        Assert.False(System.IO.File.Exists(Target().PartPath));
        Assert.False(System.IO.File.Exists(Target().PartStatePath));
        var info = new FileInfo(result.Path);
        var record = ModelProvenance.Read(result.Path, info.Length, info.LastWriteTimeUtc.Ticks);
        Assert.Equal(($"{Repo}:{File}", ModelSha), (record?.Origin, record?.Sha256));
        Assert.Contains(_observer.Lines, l => l.Contains("matches the digest the server announced", StringComparison.Ordinal));
        Assert.Equal(Model.Length, _observer.Progress.Last().Bytes);
        Assert.Equal(Model.Length, _observer.Progress.Last().Total);
        Assert.Equal(Model.Length, _server.BytesSent);
    }

    [Fact]
    public async Task ACutMidTransfer_IsRetried_AndResumesWithARangeRequest_SendingOnlyTheRemainder()
    {
        _server.CutNextTransfers(300_000);

        var result = await DownloadAsync(Downloader());

        Assert.Equal(ModelSha, result.Sha256);
        Assert.Equal(1, _server.RangedTransfers());
        Assert.Equal(Model.Length, _server.BytesSent); // 300 000 then the rest: not a byte twice
        Assert.Contains(_observer.Lines, l => l.Contains("retrying in", StringComparison.Ordinal) && l.Contains("resuming from byte 300000", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AFailedDownload_KeepsItsBytes_AndTheNextOneResumesThem()
    {
        _server.CutNextTransfers(300_000);
        var e = await Assert.ThrowsAsync<DownloadFailedException>(() => DownloadAsync(Downloader(attempts: 1)));
        Assert.Contains("gave up after 1 tries", e.Message, StringComparison.Ordinal);
        Assert.Equal(300_000, new FileInfo(Target().PartPath).Length);

        var result = await DownloadAsync(Downloader());

        Assert.Equal(ModelSha, result.Sha256);
        Assert.Equal(Model.Length, _server.BytesSent);
        Assert.Contains(_observer.Lines, l => l.StartsWith("resuming", StringComparison.Ordinal) && l.Contains("at byte 300000", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ASourceThatChangedSinceThePartialDownload_StartsOver_AndSaysWhy()
    {
        _server.CutNextTransfers(300_000);
        await Assert.ThrowsAsync<DownloadFailedException>(() => DownloadAsync(Downloader(attempts: 1)));
        var changed = (byte[])Model.Clone();
        changed[^1] ^= 1; // a new revision of the file: a new digest and ETag
        var newSha = _server.AddFile(Repo, File, changed);

        var result = await DownloadAsync(Downloader());

        Assert.Equal(newSha, result.Sha256);
        Assert.Contains(_observer.Lines, l => l.StartsWith("starting over: the source changed", StringComparison.Ordinal));
        Assert.Equal(300_000 + Model.Length, _server.BytesSent);
    }

    [Fact]
    public async Task WrongBytes_FailVerification_NamingBothDigests_AndNothingIsLeft()
    {
        _server.CorruptBytes = true;

        var e = await Assert.ThrowsAsync<DownloadFailedException>(() => DownloadAsync(Downloader()));

        Assert.Contains($"expected {ModelSha}", e.Message, StringComparison.Ordinal);
        Assert.Matches("got [0-9a-f]{64}", e.Message);
        Assert.Empty(Directory.GetFiles(_dir.Directory, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task ADigestGivenWithTheSource_IsTheOneChecked()
    {
        var wrong = new string('0', 64);
        var e = await Assert.ThrowsAsync<DownloadFailedException>(() => DownloadAsync(Downloader(), $"{Repo}:{File}#sha256={wrong}"));
        Assert.Contains($"expected {wrong} (the digest given with #sha256=)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AFileThatIsNotGguf_IsDeleted_AndItsBytesAreNeverRepeated()
    {
        var secret = "root:x:0:0:root:/root:/bin/bash\n"u8.ToArray();
        _server.AddFile(Repo, "shadow.gguf", secret);

        var e = await Assert.ThrowsAsync<DownloadFailedException>(() => DownloadAsync(Downloader(), $"{Repo}:shadow.gguf", Target("shadow")));

        Assert.Contains("not a GGUF model", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("root", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_observer.Lines, l => l.Contains("root:", StringComparison.Ordinal));
        Assert.Empty(Directory.GetFiles(_dir.Directory, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task APrivateRepository_WithoutAToken_FailsAtOnce_SayingToSetHfToken()
    {
        _server.RequiredToken = "hf_secret";
        var e = await Assert.ThrowsAsync<DownloadFailedException>(() => DownloadAsync(Downloader()));
        Assert.Contains("set HF_TOKEN", e.Message, StringComparison.Ordinal);
        Assert.Single(_server.Requests); // not retried
    }

    [Fact]
    public async Task TheToken_GoesToTheEndpoint_ButNeverFollowsTheRedirectToAnotherHost()
    {
        _server.RequiredToken = "hf_secret";

        await DownloadAsync(Downloader(token: "hf_secret"));

        var requests = _server.Requests;
        Assert.All(requests.Where(r => r.Host == "127.0.0.1"), r => Assert.Equal("Bearer hf_secret", r.Authorization));
        var cdn = requests.Where(r => r.Host == "localhost").ToList();
        Assert.NotEmpty(cdn);
        Assert.All(cdn, r => Assert.Equal("", r.Authorization));
        Assert.DoesNotContain(_observer.Lines, l => l.Contains("hf_secret", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AMissingFile_Fails_WithoutRetrying()
    {
        var e = await Assert.ThrowsAsync<DownloadFailedException>(() => DownloadAsync(Downloader(), $"{Repo}:nothere.gguf", Target("nothere")));
        Assert.Contains("not found (404)", e.Message, StringComparison.Ordinal);
        Assert.Single(_server.Requests);
    }

    [Fact]
    public async Task ServerErrors_AreRetried_ThenTheDownloadSucceeds()
    {
        _server.AnswerNext(500, 503);
        var result = await DownloadAsync(Downloader());
        Assert.Equal(ModelSha, result.Sha256);
        Assert.Equal(2, _observer.Lines.Count(l => l.Contains("retrying in", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task TooLittleFreeSpace_FailsBeforeAByteIsFetched_NamingBothNumbers()
    {
        var e = await Assert.ThrowsAsync<DownloadFailedException>(() => DownloadAsync(Downloader(freeSpace: _ => 4096)));
        Assert.Contains($"needs {Model.Length} more bytes", e.Message, StringComparison.Ordinal);
        Assert.Contains("4096 bytes (4.0 KiB) are free", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, _server.BytesSent);
    }

    [Fact]
    public async Task AQuantisation_PicksTheRepositorysFileOfThatName()
    {
        _server.AddFile(Repo, "tiny-Q8_0.gguf", Model);
        _server.AddFile(Repo, "tiny-Q4_K_M.gguf", Model);
        var downloader = Downloader();

        var (url, file) = await downloader.ResolveAsync(ModelReference.Parse($"{Repo}:Q8_0"), default);

        Assert.Equal("tiny-Q8_0.gguf", file);
        Assert.EndsWith("/rbee-test/tiny/resolve/main/tiny-Q8_0.gguf", url.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheSameSourceAgain_IsAlreadyPresent_AndFetchesNothing()
    {
        await DownloadAsync(Downloader());
        var sent = _server.BytesSent;

        var again = await DownloadAsync(Downloader());

        Assert.True(again.AlreadyPresent);
        Assert.Equal(sent, _server.BytesSent);
    }

    [Fact]
    public async Task AFileOfTheSameNameFromElsewhere_IsNeverOverwritten()
    {
        System.IO.File.WriteAllBytes(Target().FinalPath, Model);
        var e = await Assert.ThrowsAsync<DownloadFailedException>(() => DownloadAsync(Downloader()));
        Assert.Contains("already exists and was not downloaded by rbee", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AServerThatTakesTheConnectionButNeverAnswers_IsAStall_RetriedThenFailed()
    {
        _server.HoldTransfers = new TaskCompletionSource(); // never released: no headers, no bytes

        var e = await Assert.ThrowsAsync<DownloadFailedException>(() => DownloadAsync(Downloader(attempts: 2, stall: TimeSpan.FromMilliseconds(300))));

        Assert.Contains("did not answer within 0.3 s", e.Message, StringComparison.Ordinal);
        Assert.Contains("gave up after 2 tries", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AServerThatIgnoresTheRange_SendsTheWholeFile_AndTheDownloadStartsOverCorrectly()
    {
        _server.CutNextTransfers(300_000);
        _server.IgnoreRange = true;

        var result = await DownloadAsync(Downloader());

        Assert.Equal(ModelSha, result.Sha256);
        Assert.Contains(_observer.Lines, l => l.StartsWith("the server did not resume at byte 300000 (answered 200); starting over", StringComparison.Ordinal));
        Assert.Equal(300_000 + Model.Length, _server.BytesSent);
    }

    [Fact]
    public async Task Progress_IsReportedWhileBytesMove_WithRateAndEta_AndOnceAtTheEnd()
    {
        _server.BytesPerSecond = Model.Length / 3; // about three seconds of transfer

        // A stall bound shorter than the transfer: it bounds each wait for bytes, not the whole download.
        await DownloadAsync(Downloader(stall: TimeSpan.FromSeconds(1.5)));

        var progress = _observer.Progress.ToList();
        Assert.True(progress.Count >= 2, $"{progress.Count} progress reports");
        Assert.Contains(progress, p => p.BytesPerSecond > 0 && p.EtaSeconds is not null && p.Bytes < Model.Length);
        Assert.Equal(Model.Length, progress[^1].Bytes);
        Assert.True(progress.Zip(progress.Skip(1)).All(pair => pair.First.Bytes <= pair.Second.Bytes), "bytes never go down within one transfer");
    }

    [Theory]
    [InlineData("tiny", null)]
    [InlineData("Llama-3.2-1B-Instruct-Q4_K_M", null)]
    [InlineData("../etc/passwd", "must start with a letter or digit")]
    [InlineData("x/../../etc/passwd", "may hold only")]
    [InlineData(".hidden", "must start with a letter or digit")]
    [InlineData("a/b", "may hold only")]
    [InlineData("x.part", "must not end in .part")]
    [InlineData("", "1 to 128")]
    public void ModelNames_ThatCouldLeaveTheDirectory_AreRefused(string name, string? problem)
    {
        var found = DownloadTarget.NameProblem(name);
        if (problem is null) Assert.Null(found);
        else Assert.Contains(problem, found, StringComparison.Ordinal);
    }

    private sealed class Observer : IDownloadObserver
    {
        public ConcurrentQueue<string> Lines { get; } = new();
        public ConcurrentQueue<DownloadProgress> Progress { get; } = new();
        void IDownloadObserver.Narrate(string line) => Lines.Enqueue(line);
        void IDownloadObserver.Progress(DownloadProgress progress) => Progress.Enqueue(progress);
    }
}
