namespace Rbee.Models.Downloads;

/// <summary>Where a download goes: <c>&lt;directory&gt;/&lt;name&gt;.gguf</c>, through <c>&lt;name&gt;.gguf.part</c>.</summary>
public sealed record DownloadTarget(string Directory, string Name)
{
    public string FinalPath => Path.Combine(Directory, Name + ModelFiles.Extension);

    /// <summary>The bytes so far. Never listed: the catalog lists only <c>*.gguf</c>.</summary>
    public string PartPath => FinalPath + ".part";

    /// <summary>Where the part file came from (URL, validator, size), so a later download knows whether it may resume.</summary>
    public string PartStatePath => Path.Combine(Directory, ModelProvenance.DirectoryName, Name + ModelFiles.Extension + ".part.json");

    /// <summary>
    /// Null when <paramref name="name"/> can be a model's file name in a models directory, else why not: it must start
    /// with a letter or digit and hold only letters, digits, <c>.</c>, <c>_</c> and <c>-</c> (at most 128), so it can never
    /// name a path outside the directory, a hidden file or a <c>.part</c> file.
    /// </summary>
    public static string? NameProblem(string name)
    {
        if (name.Length is 0 or > 128) return "a model name has 1 to 128 characters";
        if (!char.IsAsciiLetterOrDigit(name[0])) return $"'{name}' must start with a letter or digit";
        foreach (var c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
                return $"'{name}' may hold only letters, digits, '.', '_' and '-'";
        if (name.EndsWith(".part", StringComparison.OrdinalIgnoreCase)) return $"'{name}' must not end in .part";
        return null;
    }
}

/// <summary>A download's state at one moment: bytes on disk (resumed ones included), of <see cref="Total"/> when known;
/// the rate over the last seconds and the time left at that rate (null until measured, or when the total is unknown).</summary>
public readonly record struct DownloadProgress(long Bytes, long? Total, double? BytesPerSecond, double? EtaSeconds);

/// <summary>The verified file, in place.</summary>
public sealed record DownloadResult(string Path, string Sha256, long Size, bool AlreadyPresent);

/// <summary>What a download tells the people following it.</summary>
public interface IDownloadObserver
{
    /// <summary>One line for an operator: what it fetches, a resume, a retry, a verification.</summary>
    void Narrate(string line);

    /// <summary>At least once per <see cref="ModelDownloaderOptions.ProgressInterval"/> while bytes move or wait, and once at the end.</summary>
    void Progress(DownloadProgress progress);
}

/// <summary>A download that cannot succeed as asked; the message says why and, where there is one, what to do.</summary>
public sealed class DownloadFailedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Tunables of <see cref="ModelDownloader"/>.</summary>
public sealed class ModelDownloaderOptions
{
    /// <summary>Hugging Face's base URL (<c>HF_ENDPOINT</c>, as Hugging Face's own tools read it).</summary>
    public string HuggingFaceEndpoint { get; set; } = Sources.HuggingFaceReference.DefaultEndpoint;

    /// <summary>Sent as a bearer to <see cref="HuggingFaceEndpoint"/>'s host only (never across a redirect to another host); never logged.</summary>
    public string? HuggingFaceToken { get; set; }

    /// <summary>Tries of one download, the first included, when the network fails in a way that may pass (a cut, a reset,
    /// a stall, a 5xx, 429): each resumes from the bytes on disk.</summary>
    public int MaxAttempts { get; set; } = 6;

    /// <summary>The first wait before a retry; it doubles with each (with jitter), up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A transfer that delivers no byte this long is treated as cut (and retried).</summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often progress is reported; at most a second (the contract promises one event a second).</summary>
    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The first problem, as one line naming the setting (under <paramref name="section"/>), or null.</summary>
    public string? Validate(string section)
    {
        if (!Uri.TryCreate(HuggingFaceEndpoint, UriKind.Absolute, out var endpoint) || endpoint.Scheme is not ("http" or "https"))
            return $"{section}:HuggingFaceEndpoint '{HuggingFaceEndpoint}' is not an http(s) URL (HF_ENDPOINT sets it too)";
        if (MaxAttempts is < 1 or > 100) return $"{section}:MaxAttempts {MaxAttempts} must be between 1 and 100";
        if (RetryDelay < TimeSpan.Zero || MaxRetryDelay < RetryDelay) return $"{section}:RetryDelay {RetryDelay} must be at least 0 and at most {section}:MaxRetryDelay";
        if (StallTimeout <= TimeSpan.Zero) return $"{section}:StallTimeout {StallTimeout} must be positive";
        if (ProgressInterval <= TimeSpan.Zero || ProgressInterval > TimeSpan.FromSeconds(1)) return $"{section}:ProgressInterval {ProgressInterval} must be above 0 and at most 1 s";
        return null;
    }
}
