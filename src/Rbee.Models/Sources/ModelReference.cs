using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace Rbee.Models.Sources;

/// <summary>
/// Where a model comes from, as a user writes it (<c>rbee pull SOURCE</c>, the hive's <c>model_download {source}</c>,
/// the queen's <c>Models:Aliases</c>). One parser for every place that takes a source, so they cannot disagree:
/// <list type="bullet">
/// <item><c>org/repo:file.gguf</c>, <c>org/repo/file.gguf</c>, <c>hf.co/org/repo:file.gguf</c>: one file of a Hugging Face repository;</item>
/// <item><c>org/repo:Q4_K_M</c>, <c>hf.co/org/repo:Q4_K_M</c>: the repository's one file whose name carries that
/// quantisation (picked with <see cref="HuggingFaceReference.PickFile"/> from the repository's file list);
/// <c>hf.co/org/repo</c> alone means <c>Q4_K_M</c>, as Ollama reads it;</item>
/// <item><c>org/repo@rev:…</c>: a revision other than <c>main</c>;</item>
/// <item><c>https://host/…/file.gguf</c> (or <c>http://</c>): a plain URL;</item>
/// <item>any of them with <c>#sha256=&lt;64 hex&gt;</c>: the digest the file must have.</item>
/// </list>
/// </summary>
public abstract record ModelReference
{
    /// <summary>The digest the user gave (<c>#sha256=…</c>), lower case; null when none.</summary>
    public string? Sha256 { get; init; }

    /// <summary>The file this reference names, when it names one (null for a quantisation not yet picked).</summary>
    public abstract string? FileName { get; }

    /// <summary>The model id a download gets when the job names none: the file name without <c>.gguf</c>.</summary>
    public string? DefaultId => FileName is { } f ? ModelFiles.IdOf(f) : null;

    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="error"/> says what is wrong and what would be right.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out ModelReference? reference, [NotNullWhen(false)] out string? error)
    {
        reference = null;
        var s = text?.Trim() ?? "";
        if (s.Length == 0) return Fail("the model source is empty; give org/repo:file.gguf, org/repo:Q4_K_M or an https://…/file.gguf URL", out error);
        if (s.Length > 2048) return Fail("the model source is longer than 2048 characters", out error);

        string? sha = null;
        var hash = s.IndexOf('#', StringComparison.Ordinal);
        if (hash >= 0)
        {
            var fragment = s[(hash + 1)..];
            if (!fragment.StartsWith("sha256=", StringComparison.OrdinalIgnoreCase) || !Patterns.Sha256().IsMatch(fragment[7..]))
                return Fail($"'#{fragment}' is not a digest; write #sha256= followed by 64 hexadecimal digits", out error);
            sha = fragment[7..].ToLowerInvariant();
            s = s[..hash];
        }

        if (s.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || s.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
            return ParseUrl(s, sha, out reference, out error);

        foreach (var host in HuggingFaceReference.HostPrefixes)
            if (s.StartsWith(host, StringComparison.OrdinalIgnoreCase)) return ParseHuggingFace(s[host.Length..], sha, defaultQuant: true, out reference, out error);
        return ParseHuggingFace(s, sha, defaultQuant: false, out reference, out error);
    }

    /// <summary>Parses or throws <see cref="FormatException"/> with the parser's message.</summary>
    public static ModelReference Parse(string text) =>
        TryParse(text, out var reference, out var error) ? reference : throw new FormatException(error);

    private static bool ParseUrl(string s, string? sha, out ModelReference? reference, out string? error)
    {
        reference = null;
        if (!Uri.TryCreate(s, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
            return Fail($"'{s}' is not a valid URL", out error);
        if (!string.IsNullOrEmpty(uri.UserInfo))
            return Fail("a model URL must not carry a user name or password; a Hugging Face token goes in HF_TOKEN", out error);
        var file = Uri.UnescapeDataString(uri.Segments[^1]);
        if (!IsGgufFileName(file))
            return Fail($"the URL's last path segment '{file}' is not a .gguf file name", out error);
        reference = new UrlReference(uri, file) { Sha256 = sha };
        error = null;
        return true;
    }

    private static bool ParseHuggingFace(string s, string? sha, bool defaultQuant, out ModelReference? reference, out string? error)
    {
        reference = null;
        // org/repo[@rev](:tag | /path/file.gguf)?
        var slash = s.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0) return Fail($"'{s}' names no repository; write org/repo:file.gguf, org/repo:Q4_K_M or an https://…/file.gguf URL", out error);
        var org = s[..slash];
        var rest = s[(slash + 1)..];
        var end = rest.IndexOfAny(['/', ':']);
        var repoAndRev = end < 0 ? rest : rest[..end];
        var tail = end < 0 ? "" : rest[end..];

        var revision = HuggingFaceReference.DefaultRevision;
        var at = repoAndRev.IndexOf('@', StringComparison.Ordinal);
        var repo = at < 0 ? repoAndRev : repoAndRev[..at];
        if (at >= 0)
        {
            revision = repoAndRev[(at + 1)..];
            if (!Patterns.Revision().IsMatch(revision))
                return Fail($"'{revision}' is not a revision (a branch, tag or commit of letters, digits, '.', '_' and '-')", out error);
        }
        if (!Patterns.RepoPart().IsMatch(org) || !Patterns.RepoPart().IsMatch(repo) || org is "." or ".." || repo is "." or "..")
            return Fail($"'{org}/{repo}' is not a Hugging Face repository id (letters, digits, '.', '_' and '-' on each side of one '/')", out error);

        string? file = null, quant = null;
        if (tail.StartsWith(':'))
        {
            var tag = tail[1..];
            if (tag.EndsWith(ModelFiles.Extension, StringComparison.OrdinalIgnoreCase)) file = tag;
            else if (Patterns.Quantization().IsMatch(tag)) quant = tag.ToUpperInvariant();
            else return Fail($"':{tag}' is neither a .gguf file name nor a quantisation such as Q4_K_M", out error);
        }
        else if (tail.StartsWith('/'))
        {
            file = tail[1..];
        }
        else if (defaultQuant)
        {
            quant = HuggingFaceReference.DefaultQuantization;
        }
        else
        {
            return Fail($"'{s}' names a repository but no file; write {org}/{repo}:file.gguf or {org}/{repo}:Q4_K_M", out error);
        }

        if (file is not null && !IsSafeRepoPath(file))
            return Fail($"'{file}' is not a .gguf file path inside the repository", out error);
        reference = new HuggingFaceReference(org, repo, revision, file, quant) { Sha256 = sha };
        error = null;
        return true;
    }

    /// <summary>A relative path of segments without <c>.</c>, <c>..</c> or empty ones, ending in a <c>.gguf</c> name.</summary>
    private static bool IsSafeRepoPath(string path)
    {
        var segments = path.Split('/');
        return segments.All(p => p.Length > 0 && p != "." && p != ".." && !p.Contains('\\') && !p.Any(char.IsControl))
            && IsGgufFileName(segments[^1]);
    }

    private static bool IsGgufFileName(string name) =>
        name.Length > ModelFiles.Extension.Length && name.EndsWith(ModelFiles.Extension, StringComparison.OrdinalIgnoreCase)
        && name.IndexOfAny(['/', '\\', '\0']) < 0 && name != "." && name != "..";

    private static bool Fail(string message, out string? error)
    {
        error = message;
        return false;
    }
}

/// <summary>A file of a Hugging Face model repository, or the repository's file of one quantisation.</summary>
public sealed record HuggingFaceReference(string Org, string Repo, string Revision, string? File, string? Quantization) : ModelReference
{
    public const string DefaultEndpoint = "https://huggingface.co";
    public const string DefaultRevision = "main";
    public const string DefaultQuantization = "Q4_K_M";

    /// <summary>Prefixes that name Hugging Face itself, as Ollama and llama.cpp accept them.</summary>
    internal static readonly string[] HostPrefixes = ["hf.co/", "huggingface.co/"];

    public string RepoId => $"{Org}/{Repo}";

    public override string? FileName => File is null ? null : File[(File.LastIndexOf('/') + 1)..];

    /// <summary><c>{endpoint}/{org}/{repo}/resolve/{revision}/{file}</c>, with <paramref name="file"/> the one named or picked.
    /// <paramref name="endpoint"/> is <c>HF_ENDPOINT</c> when set, else <see cref="DefaultEndpoint"/>.</summary>
    public Uri ResolveUri(string endpoint, string? file = null)
    {
        var name = file ?? File ?? throw new InvalidOperationException($"{RepoId}:{Quantization} names no file yet; pick one with PickFile");
        var path = string.Join('/', name.Split('/').Select(Uri.EscapeDataString));
        return new Uri($"{endpoint.TrimEnd('/')}/{Uri.EscapeDataString(Org)}/{Uri.EscapeDataString(Repo)}/resolve/{Uri.EscapeDataString(Revision)}/{path}");
    }

    /// <summary>
    /// The file of <paramref name="files"/> (the repository's paths) whose name carries <see cref="Quantization"/> as a
    /// whole word (<c>…-Q4_K_M.gguf</c>, <c>….Q4_K_M.gguf</c>, case ignored), or an error that lists what there is. Split
    /// files (<c>-00001-of-00003.gguf</c>) are not picked: the engine reads one file.
    /// </summary>
    public bool PickFile(IEnumerable<string> files, [NotNullWhen(true)] out string? file, [NotNullWhen(false)] out string? error)
    {
        if (File is not null) { file = File; error = null; return true; }
        var quant = Quantization!;
        var ggufs = files.Where(f => f.EndsWith(ModelFiles.Extension, StringComparison.OrdinalIgnoreCase)).ToList();
        var matches = ggufs.Where(f => CarriesQuantization(f[(f.LastIndexOf('/') + 1)..], quant) && !Patterns.SplitPart().IsMatch(f)).ToList();
        if (matches.Count == 1) { file = matches[0]; error = null; return true; }
        file = null;
        error = matches.Count == 0
            ? ggufs.Count == 0
                ? $"{RepoId}@{Revision} has no .gguf file"
                : $"{RepoId}@{Revision} has no single-file .gguf of quantisation {quant}; it has: {string.Join(", ", ggufs.Take(20))}"
            : $"{RepoId}@{Revision} has {matches.Count} files of quantisation {quant} ({string.Join(", ", matches)}); name one with {RepoId}:<file>.gguf";
        return false;
    }

    private static bool CarriesQuantization(string name, string quant)
    {
        var stem = name[..^ModelFiles.Extension.Length];
        var i = stem.LastIndexOf(quant, StringComparison.OrdinalIgnoreCase);
        while (i >= 0)
        {
            var before = i == 0 || !char.IsLetterOrDigit(stem[i - 1]);
            // "_" ends a word before the name (model_Q4_K) but continues it after (Q4_K is not Q4_K_M).
            var after = i + quant.Length == stem.Length || !(char.IsLetterOrDigit(stem[i + quant.Length]) || stem[i + quant.Length] == '_');
            if (before && after) return true;
            i = i == 0 ? -1 : stem.LastIndexOf(quant, i - 1, StringComparison.OrdinalIgnoreCase);
        }
        return false;
    }
}

/// <summary>A GGUF file at a plain URL.</summary>
public sealed record UrlReference(Uri Url, string File) : ModelReference
{
    public override string? FileName => File;
}

/// <summary>The patterns every reader of model references and stores shares.</summary>
internal static partial class Patterns
{
    [GeneratedRegex("^[0-9a-fA-F]{64}$")]
    public static partial Regex Sha256();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")]
    public static partial Regex RepoPart();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    public static partial Regex Revision();

    /// <summary>llama.cpp's quantisation names: F16, BF16, F32, Q8_0, Q4_K_M, IQ4_XS, Q4_0_4_4, TQ1_0 …</summary>
    [GeneratedRegex("^(?i:(?:I?Q[0-9]+(?:_[0-9A-Z]+)*)|(?:TQ[0-9]_[0-9])|F16|F32|BF16)$")]
    public static partial Regex Quantization();

    [GeneratedRegex(@"-\d{5}-of-\d{5}\.gguf$", RegexOptions.IgnoreCase)]
    public static partial Regex SplitPart();
}
