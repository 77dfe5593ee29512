using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Polly;
using Polly.Retry;
using Rbee.Models.Gguf;
using Rbee.Models.Sources;

namespace Rbee.Models.Downloads;

/// <summary>
/// Fetches one GGUF file into a models directory (issue "models across the cluster", <c>model_download</c>):
/// <list type="number">
/// <item>a quantisation (<c>org/repo:Q4_K_M</c>) is resolved to a file from the repository's tree (<see cref="ResolveAsync"/>);</item>
/// <item>each try asks the server first (HEAD, following redirects by hand so Hugging Face's <c>X-Linked-ETag</c> and
/// <c>X-Linked-Size</c> on the redirect are seen, and the token never follows a redirect to another host), checks the free
/// space against what is still missing, and resumes the <c>.part</c> file with a Range request when its recorded URL and
/// validator (ETag, else Last-Modified) still match, or starts over and says why;</item>
/// <item>the bytes are hashed (sha256) as they are written; a cut, reset, stall, 5xx or 429 is retried with exponential
/// backoff (Polly), each try resuming from the bytes on disk; 401, 403 and 404 fail at once with what to do;</item>
/// <item>the finished file is checked against the digest the user gave (<c>#sha256=</c>) or the server announced (a
/// mismatch deletes it and names both digests), then its GGUF header, and only then renamed into place, with a
/// <see cref="ModelProvenance"/> record beside it.</item>
/// </list>
/// Cancelling leaves the <c>.part</c> file and its record: the next download of the same source resumes. The caller makes
/// sure one target has one download at a time.
/// </summary>
public sealed class ModelDownloader
{
    private const int BufferSize = 1 << 20;
    private const int MaxRedirects = 10;

    private readonly HttpClient _http;
    private readonly ModelDownloaderOptions _options;
    private readonly TimeProvider _time;
    private readonly Func<string, long?> _freeSpace;
    private readonly Uri _endpoint;

    /// <param name="http">A client that does not follow redirects itself (<c>AllowAutoRedirect = false</c>) and has no overall timeout.</param>
    /// <param name="freeSpace">Free bytes for the directory given; null when unknown (the check is then skipped).</param>
    public ModelDownloader(HttpClient http, ModelDownloaderOptions options, TimeProvider time, Func<string, long?>? freeSpace = null)
    {
        _http = http;
        _options = options;
        _time = time;
        _freeSpace = freeSpace ?? FreeSpace;
        _endpoint = new Uri(options.HuggingFaceEndpoint.TrimEnd('/') + "/");
    }

    /// <summary>The client a downloader wants: no automatic redirects (see the class), no decompression, no overall timeout.</summary>
    public static HttpClient CreateHttpClient(string userAgent)
    {
        var client = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(15),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        })
        { Timeout = Timeout.InfiniteTimeSpan };
        client.DefaultRequestHeaders.UserAgent.ParseAdd(userAgent);
        return client;
    }

    /// <summary>The URL and file name a reference downloads: a quantisation is picked from the repository's file list.</summary>
    public async Task<(Uri Url, string FileName)> ResolveAsync(ModelReference reference, CancellationToken ct)
    {
        switch (reference)
        {
            case UrlReference url:
                return (url.Url, url.File);
            case HuggingFaceReference { File: { } file } hf:
                return (hf.ResolveUri(_options.HuggingFaceEndpoint), hf.FileName!);
            case HuggingFaceReference hf:
                IReadOnlyList<string> files;
                try { files = await ListRepositoryAsync(hf, ct).ConfigureAwait(false); }
                catch (TransientDownloadException e) { throw new DownloadFailedException($"listing {hf.RepoId}@{hf.Revision} failed: {e.Message}", e); }
                if (!hf.PickFile(files, out var picked, out var error)) throw new DownloadFailedException(error);
                return (hf.ResolveUri(_options.HuggingFaceEndpoint, picked), picked[(picked.LastIndexOf('/') + 1)..]);
            default:
                throw new ArgumentException($"unknown reference type {reference.GetType().Name}", nameof(reference));
        }
    }

    /// <summary>Every file path of the repository at the revision (Hugging Face's <c>/api/models/{repo}/tree/{revision}</c>).</summary>
    private async Task<IReadOnlyList<string>> ListRepositoryAsync(HuggingFaceReference hf, CancellationToken ct)
    {
        var uri = new Uri(_endpoint, $"api/models/{Uri.EscapeDataString(hf.Org)}/{Uri.EscapeDataString(hf.Repo)}/tree/{Uri.EscapeDataString(hf.Revision)}?recursive=true");
        using var response = await SendAsync(HttpMethod.Get, uri, 0, ct).ConfigureAwait(false);
        ThrowOnRefusal(response.Message, $"{hf.RepoId}@{hf.Revision}");
        if (!response.Message.IsSuccessStatusCode)
            throw new DownloadFailedException($"listing {hf.RepoId}@{hf.Revision} failed: {uri} answered {(int)response.Message.StatusCode}");
        try
        {
            var entries = await JsonSerializer.DeserializeAsync(await response.Message.Content.ReadAsStreamAsync(ct).ConfigureAwait(false),
                DownloaderJson.Default.ListListTreeEntry, ct).ConfigureAwait(false) ?? [];
            return entries.Where(e => e.Type == "file" && e.Path is not null).Select(e => e.Path!).ToList();
        }
        catch (JsonException e)
        {
            throw new DownloadFailedException($"listing {hf.RepoId}@{hf.Revision}: {uri} did not answer a file list ({e.Message})");
        }
    }

    /// <summary>Downloads <paramref name="url"/> to <paramref name="target"/>; see the class for the steps.</summary>
    /// <param name="origin">What the user asked for, kept in the provenance record (e.g. <c>org/repo:file.gguf</c>).</param>
    /// <param name="expectedSha256">The digest the user gave (<c>#sha256=</c>), lower case, or null.</param>
    public async Task<DownloadResult> DownloadAsync(Uri url, string origin, string? expectedSha256, DownloadTarget target, IDownloadObserver observer, CancellationToken ct)
    {
        Directory.CreateDirectory(target.Directory);
        if (AlreadyPresent(target, origin, expectedSha256, observer) is { } present) return present;

        var state = new Transfer(target, url, origin);
        var builder = new ResiliencePipelineBuilder { TimeProvider = _time };
        if (_options.MaxAttempts > 1)
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<TransientDownloadException>(),
                MaxRetryAttempts = _options.MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _options.RetryDelay,
                MaxDelay = _options.MaxRetryDelay,
                OnRetry = args =>
                {
                    observer.Narrate($"{args.Outcome.Exception?.Message}; retrying in {args.RetryDelay.TotalSeconds:0.0} s " +
                        $"(try {args.AttemptNumber + 2} of {_options.MaxAttempts}), resuming from byte {state.Bytes}");
                    return default;
                },
            });
        var pipeline = builder.Build();

        using var reporter = new ProgressReporter(() => state.Bytes, () => state.Total, observer, _options.ProgressInterval, _time);
        string sha;
        try
        {
            await pipeline.ExecuteAsync(async token => await TryOnceAsync(state, observer, token).ConfigureAwait(false), ct).ConfigureAwait(false);
            sha = Convert.ToHexStringLower(state.Hash!.GetCurrentHash());
        }
        catch (TransientDownloadException e)
        {
            throw new DownloadFailedException($"{e.Message}; gave up after {_options.MaxAttempts} tries (the {state.Bytes} bytes so far are kept: download again to resume)");
        }
        finally
        {
            await reporter.StopAsync().ConfigureAwait(false);
            state.Hash?.Dispose();
            state.Hash = null;
        }
        return Finish(state, sha, expectedSha256, observer);
    }

    /// <summary>A complete file already in place from the same source (or with the expected digest) is the result.</summary>
    private static DownloadResult? AlreadyPresent(DownloadTarget target, string origin, string? expectedSha256, IDownloadObserver observer)
    {
        var file = new FileInfo(target.FinalPath);
        if (!file.Exists) return null;
        var record = ModelProvenance.Read(file.FullName, file.Length, file.LastWriteTimeUtc.Ticks);
        if (record is not null && (expectedSha256 is null ? record.Origin == origin : record.Sha256 == expectedSha256))
        {
            observer.Narrate($"{file.FullName} is already here from {record.Origin} ({file.Length} bytes, sha256 {record.Sha256}); nothing to download");
            return new DownloadResult(file.FullName, record.Sha256, file.Length, AlreadyPresent: true);
        }
        throw new DownloadFailedException(record is null
            ? $"{file.FullName} already exists and was not downloaded by rbee; delete it (model_delete) or give the download another name"
            : $"{file.FullName} already exists, downloaded from {record.Origin} (sha256 {record.Sha256}); delete it (model_delete) or give the download another name");
    }

    private async Task TryOnceAsync(Transfer state, IDownloadObserver observer, CancellationToken ct)
    {
        // Ask first: the total, the digest and the validator decide the space check and whether the part file may resume.
        var head = await ProbeAsync(state.Url, ct).ConfigureAwait(false);
        // This try's answer, not an earlier one's: the source may have changed between tries.
        state.Total = head.Total;
        state.AnnouncedSha256 = head.Sha256;
        var offset = DecideOffset(state, head, observer);
        if (head.Total is { } total)
        {
            if (offset > total) offset = Restart(state, $"the partial file has {offset} bytes, more than the {total} the source has", observer);
            var missing = total - offset;
            if (_freeSpace(state.Target.Directory) is { } free && free < missing)
                throw new DownloadFailedException($"not enough free space in {state.Target.Directory}: the download needs {missing} more bytes " +
                    $"({Size(missing)}) and {free} bytes ({Size(free)}) are free");
        }
        await PrepareHashAsync(state, offset, ct).ConfigureAwait(false);
        if (head.Total is { } t && offset == t && offset > 0) return; // every byte is here already: verify

        await using var file = new FileStream(state.Target.PartPath, FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read, 1, FileOptions.Asynchronous);
        file.SetLength(offset);
        file.Position = offset;
        WritePartState(state, head.Validator);

        using var response = await SendAsync(HttpMethod.Get, state.Url, offset, ct).ConfigureAwait(false);
        var message = response.Message;
        ThrowOnRefusal(message, state.Url.ToString());
        if (message.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && offset > 0)
        {
            Restart(state, $"the server refused to resume at byte {offset} (416)", observer);
            throw new TransientDownloadException("the partial file did not fit the source");
        }
        if (IsTransient(message.StatusCode))
            throw new TransientDownloadException($"{state.Url.Host} answered {(int)message.StatusCode} {message.ReasonPhrase}");
        if (!message.IsSuccessStatusCode)
            throw new DownloadFailedException($"{state.Url} answered {(int)message.StatusCode} {message.ReasonPhrase}");
        if (offset > 0)
        {
            // The bytes appended must be of the file the part came from: the same validator as the HEAD that allowed the resume.
            if (ValidatorOf(response) is { } now && now != head.Validator)
            {
                Restart(state, $"the source changed between asking and fetching (validator {head.Validator} is now {now})", observer);
                throw new TransientDownloadException("the source changed during the download");
            }
            if (message.StatusCode == HttpStatusCode.PartialContent && message.Content.Headers.ContentRange?.From != offset)
            {
                Restart(state, $"the server answered the range from byte {offset} with one from byte {message.Content.Headers.ContentRange?.From}", observer);
                throw new TransientDownloadException("the server sent another range than the one asked for");
            }
            if (message.StatusCode != HttpStatusCode.PartialContent)
            {
                // The whole file came back: take it from its first byte.
                observer.Narrate($"the server did not resume at byte {offset} (answered {(int)message.StatusCode}); starting over");
                offset = 0;
                file.SetLength(0);
                file.Position = 0;
                ResetHash(state);
            }
        }
        state.Total ??= message.Content.Headers.ContentRange?.Length ?? (message.Content.Headers.ContentLength is { } length ? offset + length : null);
        await CopyAsync(message, file, state, ct).ConfigureAwait(false);
        await file.FlushAsync(ct).ConfigureAwait(false);
        file.Flush(flushToDisk: true);
        if (state.Total is { } expected && state.Bytes < expected)
            throw new TransientDownloadException($"the transfer ended at byte {state.Bytes} of {expected}");
    }

    /// <summary>Copies the body to the part file, hashing as it goes; a stall or a network failure is transient.</summary>
    private async Task CopyAsync(HttpResponseMessage message, FileStream file, Transfer state, CancellationToken ct)
    {
        var buffer = new byte[BufferSize];
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Stream body;
        try { body = await message.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false); }
        catch (Exception e) when (e is HttpRequestException or IOException) { throw new TransientDownloadException($"the connection failed at byte {state.Bytes}: {e.Message}", e); }
        await using var _ = body.ConfigureAwait(false);
        while (true)
        {
            stall.CancelAfter(_options.StallTimeout);
            int read;
            try { read = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new TransientDownloadException($"no data for {_options.StallTimeout.TotalSeconds:0.#} s at byte {state.Bytes}");
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                throw new TransientDownloadException($"the connection was cut at byte {state.Bytes}: {e.Message}", e);
            }
            if (read == 0) return;
            if (state.Total is { } total && state.Bytes + read > total)
                throw new DownloadFailedException($"the source sent more than the {total} bytes it announced");
            try { await file.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false); }
            catch (IOException e)
            {
                throw new DownloadFailedException($"writing {state.Target.PartPath} failed at byte {state.Bytes}: {e.Message} (the bytes so far are kept: free space and download again to resume)", e);
            }
            state.Hash!.AppendData(buffer, 0, read);
            Interlocked.Add(ref state.BytesField, read);
            state.HashedBytes += read;
        }
    }

    /// <summary>Where this try starts: the part file's length when its record says it came from this URL with this
    /// validator, else 0 (with the reason said once).</summary>
    private static long DecideOffset(Transfer state, Probe head, IDownloadObserver observer)
    {
        var part = new FileInfo(state.Target.PartPath);
        if (!part.Exists || part.Length == 0)
        {
            Volatile.Write(ref state.BytesField, 0);
            return 0;
        }
        // Within one download the record was written by this object; across downloads it is read back from disk.
        var recorded = ReadPartState(state.Target);
        string? why = null;
        if (recorded is null) why = "there is no record of where the partial file came from";
        else if (recorded.Url != state.Url.ToString()) why = $"the partial file came from {recorded.Url}";
        else if (head.Validator is null) why = "the server gives no ETag or Last-Modified to prove the file is unchanged";
        else if (recorded.Validator != head.Validator) why = $"the source changed since the partial download (validator {recorded.Validator} is now {head.Validator})";
        else if (!head.AcceptsRanges) why = "the server does not accept range requests";
        if (why is not null) return Restart(state, why, observer);
        if (!state.ResumeAnnounced)
        {
            observer.Narrate($"resuming {state.Target.PartPath} at byte {part.Length}{(head.Total is { } t ? $" of {t}" : "")}");
            state.ResumeAnnounced = true;
        }
        Volatile.Write(ref state.BytesField, part.Length);
        return part.Length;
    }

    private static long Restart(Transfer state, string why, IDownloadObserver observer)
    {
        observer.Narrate($"starting over: {why}");
        try { File.Delete(state.Target.PartPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new DownloadFailedException($"cannot remove {state.Target.PartPath}: {e.Message}", e); }
        ResetHash(state);
        Volatile.Write(ref state.BytesField, 0);
        return 0;
    }

    private static void ResetHash(Transfer state)
    {
        state.Hash?.Dispose();
        state.Hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        state.HashedBytes = 0;
        Volatile.Write(ref state.BytesField, 0);
    }

    /// <summary>The hash covers exactly the bytes on disk before this try appends: read the part file's prefix when it does not yet.</summary>
    private static async Task PrepareHashAsync(Transfer state, long offset, CancellationToken ct)
    {
        if (state.Hash is not null && state.HashedBytes == offset) return;
        ResetHash(state);
        if (offset == 0) return;
        var buffer = new byte[BufferSize];
        await using var file = new FileStream(state.Target.PartPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var left = offset;
        while (left > 0)
        {
            var read = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct).ConfigureAwait(false);
            if (read == 0) throw new DownloadFailedException($"{state.Target.PartPath} shrank while it was being resumed");
            state.Hash!.AppendData(buffer, 0, read);
            left -= read;
        }
        state.HashedBytes = offset;
        Volatile.Write(ref state.BytesField, offset);
    }

    /// <summary>Checks size, digest and GGUF header of the part file, then renames it into place with its provenance.</summary>
    private DownloadResult Finish(Transfer state, string sha, string? expectedSha256, IDownloadObserver observer)
    {
        var target = state.Target;
        var part = new FileInfo(target.PartPath);
        if (state.Total is { } total && part.Length != total)
            throw Discard(target, $"the downloaded file has {part.Length} bytes where the source announced {total}");
        var (expected, from) = expectedSha256 is not null ? (expectedSha256, "the digest given with #sha256=")
            : state.AnnouncedSha256 is not null ? (state.AnnouncedSha256, "the digest the server announced (X-Linked-ETag)") : (null, null);
        if (expected is not null && expected != sha)
            throw Discard(target, $"sha256 mismatch: expected {expected} ({from}), got {sha}; the file was deleted");
        observer.Narrate(expected is not null ? $"sha256 {sha} matches {from}" : $"sha256 {sha} (the source announced none to compare with)");
        try
        {
            var header = GgufHeader.Read(part.FullName);
            if (header.FileLength < header.RequiredLength)
                throw Discard(target, $"the downloaded file is not a complete GGUF model: its tensors end at byte {header.RequiredLength} but it has {header.FileLength}");
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IncompleteModelFileException)
        {
            // Never repeat bytes of a file that is not a model (its first bytes could be anything).
            throw Discard(target, "the downloaded file is not a GGUF model the engine can read; it was deleted");
        }
        if (File.Exists(target.FinalPath))
            throw new DownloadFailedException($"{target.FinalPath} appeared while downloading; the download is kept as {target.PartPath}");
        File.Move(target.PartPath, target.FinalPath);
        var final = new FileInfo(target.FinalPath);
        ModelProvenance.Write(final.FullName, new ModelProvenance
        {
            Origin = state.Origin,
            Url = state.Url.ToString(),
            Sha256 = sha,
            Size = final.Length,
            MtimeTicks = final.LastWriteTimeUtc.Ticks,
            DownloadedAt = _time.GetUtcNow(),
        });
        TryDelete(target.PartStatePath);
        return new DownloadResult(final.FullName, sha, final.Length, AlreadyPresent: false);
    }

    private static DownloadFailedException Discard(DownloadTarget target, string message)
    {
        TryDelete(target.PartPath);
        TryDelete(target.PartStatePath);
        return new DownloadFailedException(message);
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    // ---- HTTP ------------------------------------------------------------------------------------------------

    private sealed record Probe(long? Total, string? Sha256, string? Validator, bool AcceptsRanges);

    /// <summary>HEAD through every redirect: the total, the announced digest and the validator of the file.</summary>
    private async Task<Probe> ProbeAsync(Uri url, CancellationToken ct)
    {
        using var response = await SendAsync(HttpMethod.Head, url, 0, ct).ConfigureAwait(false);
        var message = response.Message;
        ThrowOnRefusal(message, url.ToString());
        if (IsTransient(message.StatusCode)) throw new TransientDownloadException($"{url.Host} answered {(int)message.StatusCode} {message.ReasonPhrase}");
        if (message.StatusCode == HttpStatusCode.MethodNotAllowed) return new Probe(null, response.LinkedSha256, null, false);
        if (!message.IsSuccessStatusCode) throw new DownloadFailedException($"{url} answered {(int)message.StatusCode} {message.ReasonPhrase}");
        var acceptsRanges = message.Headers.AcceptRanges.Contains("bytes");
        return new Probe(response.LinkedSize ?? message.Content.Headers.ContentLength, response.LinkedSha256, ValidatorOf(response), acceptsRanges);
    }

    /// <summary>What proves a file unchanged: Hugging Face's <c>X-Linked-ETag</c> (the content's digest, whichever CDN
    /// serves it), else the final answer's <c>ETag</c>, else its <c>Last-Modified</c>.</summary>
    private static string? ValidatorOf(Response response) =>
        response.LinkedEtag ?? response.Message.Headers.ETag?.Tag
        ?? (response.Message.Content.Headers.LastModified is { } lm ? lm.ToString("R", CultureInfo.InvariantCulture) : null);

    private sealed class Response(HttpResponseMessage message) : IDisposable
    {
        public HttpResponseMessage Message { get; set; } = message;
        public string? LinkedEtag { get; set; }
        public string? LinkedSha256 { get; set; }
        public long? LinkedSize { get; set; }
        public void Dispose() => Message.Dispose();
    }

    /// <summary>Sends, following redirects by hand: the <c>X-Linked-*</c> headers of any hop are kept, and the token goes
    /// only to the Hugging Face endpoint's own host.</summary>
    private async Task<Response> SendAsync(HttpMethod method, Uri url, long rangeFrom, CancellationToken ct)
    {
        var current = url;
        Response? result = null;
        for (var hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(method, current);
            if (_options.HuggingFaceToken is { Length: > 0 } token && SameOrigin(current, _endpoint))
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            if (rangeFrom > 0) request.Headers.Range = new RangeHeaderValue(rangeFrom, null);
            HttpResponseMessage message;
            // A server that takes the connection and never answers is a stall like one that stops sending.
            using (var answer = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                answer.CancelAfter(_options.StallTimeout);
                try { message = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, answer.Token).ConfigureAwait(false); }
                catch (HttpRequestException e) { throw new TransientDownloadException($"cannot reach {current.Host}: {e.Message}", e); }
                catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
                {
                    throw new TransientDownloadException($"{current.Host} did not answer within {_options.StallTimeout.TotalSeconds:0.#} s", e);
                }
            }
            if (result is null) result = new Response(message);
            else result.Message = message;
            if (Header(message, "X-Linked-ETag") is { } linked)
            {
                result.LinkedEtag ??= linked;
                var bare = linked.Trim('"');
                if (bare.StartsWith("W/", StringComparison.Ordinal)) bare = bare[2..].Trim('"');
                if (Patterns.Sha256().IsMatch(bare)) result.LinkedSha256 ??= bare.ToLowerInvariant();
            }
            if (Header(message, "X-Linked-Size") is { } size && long.TryParse(size, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) result.LinkedSize ??= n;
            if ((int)message.StatusCode is 301 or 302 or 303 or 307 or 308 && message.Headers.Location is { } location)
            {
                if (hop >= MaxRedirects) { message.Dispose(); throw new DownloadFailedException($"{url} redirects more than {MaxRedirects} times"); }
                current = location.IsAbsoluteUri ? location : new Uri(current, location);
                message.Dispose();
                if (current.Scheme is not ("http" or "https")) throw new DownloadFailedException($"{url} redirects to a {current.Scheme} URL");
                continue;
            }
            return result;
        }
    }

    private static bool SameOrigin(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase) && string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    private static string? Header(HttpResponseMessage message, string name) =>
        message.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    private static bool IsTransient(HttpStatusCode status) => (int)status is 408 or 429 or >= 500;

    /// <summary>401, 403 and 404 end the download at once, with what to do.</summary>
    private void ThrowOnRefusal(HttpResponseMessage message, string what)
    {
        switch (message.StatusCode)
        {
            case HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden:
                throw new DownloadFailedException(_options.HuggingFaceToken is { Length: > 0 }
                    ? $"{what}: access denied ({(int)message.StatusCode}) with the configured Hugging Face token; check that the token may read this repository (gated models need their terms accepted on the website)"
                    : $"{what}: access denied ({(int)message.StatusCode}); the repository is private or gated: set HF_TOKEN for the hive to a token that may read it");
            case HttpStatusCode.NotFound:
                throw new DownloadFailedException($"{what}: not found (404); check the repository, revision and file name");
        }
    }

    // ---- part state ------------------------------------------------------------------------------------------

    private static PartState? ReadPartState(DownloadTarget target)
    {
        try { return JsonSerializer.Deserialize(File.ReadAllBytes(target.PartStatePath), DownloaderJson.Default.PartState); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException) { return null; }
    }

    private static void WritePartState(Transfer state, string? validator)
    {
        var path = state.Target.PartStatePath;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(new PartState(state.Url.ToString(), state.Origin, validator, state.Total), DownloaderJson.Default.PartState));
        File.Move(temp, path, overwrite: true);
    }

    private static long? FreeSpace(string directory)
    {
        try { return new DriveInfo(directory).AvailableFreeSpace; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException) { return null; }
    }

    internal static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.0} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:0.0} KiB",
        _ => $"{bytes} B",
    };

    /// <summary>One download's moving parts, shared by its tries and its progress reporter.</summary>
    private sealed class Transfer(DownloadTarget target, Uri url, string origin)
    {
        public DownloadTarget Target { get; } = target;
        public Uri Url { get; } = url;
        public string Origin { get; } = origin;
        private long _total = -1;

        /// <summary>Read by the progress timer while a try sets it: one atomic word, -1 for unknown.</summary>
        public long? Total
        {
            get => Volatile.Read(ref _total) is var t && t >= 0 ? t : null;
            set => Volatile.Write(ref _total, value ?? -1);
        }
        public string? AnnouncedSha256 { get; set; }
        public IncrementalHash? Hash { get; set; }
        public long HashedBytes { get; set; }
        public bool ResumeAnnounced { get; set; }
        public long BytesField;
        public long Bytes => Volatile.Read(ref BytesField);
    }
}

/// <summary>A failure that may pass (a cut, a reset, a stall, a 5xx): the download retries it.</summary>
internal sealed class TransientDownloadException(string message, Exception? inner = null) : Exception(message, inner);

internal sealed record PartState(string Url, string Origin, string? Validator, long? Total);

internal sealed record ListTreeEntry(string? Type, string? Path);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(PartState))]
[JsonSerializable(typeof(List<ListTreeEntry>))]
internal sealed partial class DownloaderJson : JsonSerializerContext;
