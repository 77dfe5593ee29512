using System.Text;

namespace Rbee.Queen.Discovery;

/// <summary>
/// Reads the hosts of an OpenSSH client config the way <c>ssh</c> resolves them (DESIGN.md "Discovery and
/// telemetry" 2): keywords case-insensitive, <c>Key Value</c> or <c>Key=Value</c>, quoted values, comments;
/// the first value obtained for a keyword wins; <c>Host</c> lines may name several patterns, and blocks whose
/// patterns match an alias (including <c>*</c>, <c>?</c> and <c>!</c> patterns) contribute to it; <c>Include</c>
/// is read in place, relative paths from the config's own directory (<c>~/.ssh</c> for the default), with
/// globs; <c>Match</c> blocks are skipped whole since their conditions need a live connection. Only literal
/// aliases become hosts: a wildcard pattern names no machine. A line it cannot use gives a warning naming
/// file:line, never an exception.
/// </summary>
public static class SshConfigParser
{
    private const int MaxIncludeDepth = 16;

    public static SshConfig ReadFile(string path)
    {
        var state = new ParseState(Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/");
        ReadInto(state, Path.GetFullPath(path), depth: 0, reportMissing: true);
        return state.Build();
    }

    /// <summary>Parses config text (for tests); <paramref name="baseDirectory"/> resolves relative Includes.</summary>
    public static SshConfig Parse(string text, string fileName = "config", string? baseDirectory = null)
    {
        var state = new ParseState(baseDirectory ?? Directory.GetCurrentDirectory());
        ParseLines(state, text, fileName, depth: 0);
        return state.Build();
    }

    private static void ReadInto(ParseState state, string path, int depth, bool reportMissing)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (reportMissing) state.Warn(path, 0, $"cannot read: {e.Message}");
            return;
        }
        state.Files.Add(path);
        ParseLines(state, text, path, depth);
    }

    private static void ParseLines(ParseState state, string text, string file, int depth)
    {
        var lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.TrimEnd('\r').Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            if (!TrySplit(line, out var keyword, out var args, out var error))
            {
                state.Warn(file, lineNumber, error!);
                continue;
            }
            switch (keyword.ToLowerInvariant())
            {
                case "host":
                    if (args.Count == 0) { state.Warn(file, lineNumber, "Host without a name"); state.StartSkipping(); break; }
                    state.StartBlock(args, file, lineNumber);
                    break;
                case "match":
                    // Conditions like exec/canonical need a connection; skip the block so it cannot leak settings.
                    state.StartSkipping();
                    break;
                case "include":
                    if (state.Skipping) break;
                    if (args.Count == 0) { state.Warn(file, lineNumber, "Include without a path"); break; }
                    if (depth >= MaxIncludeDepth) { state.Warn(file, lineNumber, "Include nested too deep (a loop?)"); break; }
                    foreach (var pattern in args)
                        foreach (var included in ExpandInclude(state.BaseDirectory, pattern))
                            ReadInto(state, included, depth + 1, reportMissing: false);
                    break;
                case "hostname":
                case "user":
                case "port":
                    if (state.Skipping) break;
                    if (args.Count != 1) { state.Warn(file, lineNumber, $"{keyword} takes one value"); break; }
                    if (keyword.Equals("port", StringComparison.OrdinalIgnoreCase) &&
                        (!int.TryParse(args[0], out var port) || port is <= 0 or > 65535))
                    {
                        state.Warn(file, lineNumber, $"Port '{args[0]}' is not a port number");
                        break;
                    }
                    state.Set(keyword.ToLowerInvariant(), args[0]);
                    break;
                default:
                    // Every other keyword (IdentityFile, ServerAliveInterval, ...) is ssh's business, not ours.
                    break;
            }
        }
    }

    private static IEnumerable<string> ExpandInclude(string baseDirectory, string pattern)
    {
        var expanded = pattern.StartsWith('~') ? Rbee.Platform.Paths.RbeePaths.ExpandHome(pattern) : pattern;
        var full = Path.IsPathRooted(expanded) ? expanded : Path.Combine(baseDirectory, expanded);
        var dir = Path.GetDirectoryName(full) ?? baseDirectory;
        var name = Path.GetFileName(full);
        if (name.IndexOfAny(['*', '?']) < 0) return File.Exists(full) ? [full] : [];
        if (!Directory.Exists(dir)) return [];
        // ssh expands Include globs in sorted order.
        return Directory.EnumerateFiles(dir, name).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Splits a line into keyword and arguments: <c>Key Value</c>, <c>Key=Value</c>, double quotes, trailing comment.</summary>
    internal static bool TrySplit(string line, out string keyword, out List<string> args, out string? error)
    {
        args = [];
        error = null;
        var i = 0;
        while (i < line.Length && !char.IsWhiteSpace(line[i]) && line[i] != '=') i++;
        keyword = line[..i];
        if (keyword.Length == 0) { error = "line without a keyword"; return false; }
        while (i < line.Length && char.IsWhiteSpace(line[i])) i++;
        if (i < line.Length && line[i] == '=') i++;
        var current = new StringBuilder();
        while (i < line.Length)
        {
            while (i < line.Length && char.IsWhiteSpace(line[i])) i++;
            if (i >= line.Length) break;
            if (line[i] == '#') break;
            current.Clear();
            if (line[i] == '"')
            {
                var close = line.IndexOf('"', i + 1);
                if (close < 0) { error = $"unbalanced quote in {keyword}"; return false; }
                current.Append(line, i + 1, close - i - 1);
                i = close + 1;
            }
            else
            {
                while (i < line.Length && !char.IsWhiteSpace(line[i])) current.Append(line[i++]);
            }
            args.Add(current.ToString());
        }
        return true;
    }

    /// <summary>ssh's pattern match: <c>*</c> any run, <c>?</c> one character, case-insensitive.</summary>
    internal static bool GlobMatch(string pattern, string text)
    {
        int p = 0, t = 0, starP = -1, starT = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || char.ToLowerInvariant(pattern[p]) == char.ToLowerInvariant(text[t])))
            { p++; t++; }
            else if (p < pattern.Length && pattern[p] == '*') { starP = p++; starT = t; }
            else if (starP >= 0) { p = starP + 1; t = ++starT; }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }

    private static bool IsWildcard(string pattern) => pattern.IndexOfAny(['*', '?', '!']) >= 0;

    private sealed class Block(IReadOnlyList<string> patterns, string file, int line)
    {
        public IReadOnlyList<string> Patterns { get; } = patterns;
        public string File { get; } = file;
        public int Line { get; } = line;
        public Dictionary<string, string> Values { get; } = new(StringComparer.Ordinal);

        /// <summary>ssh's rule: a negated pattern that matches rules the block out; else any positive match counts.</summary>
        public bool Matches(string alias)
        {
            var matched = false;
            foreach (var p in Patterns)
            {
                if (p.StartsWith('!')) { if (GlobMatch(p[1..], alias)) return false; }
                else if (GlobMatch(p, alias)) matched = true;
            }
            return matched;
        }
    }

    private sealed class ParseState(string baseDirectory)
    {
        private readonly List<Block> _blocks = [new Block(["*"], "", 0)]; // settings before any Host apply to all
        private readonly List<SshConfigWarning> _warnings = [];
        private Block? _current;

        public string BaseDirectory { get; } = baseDirectory;
        public List<string> Files { get; } = [];
        public bool Skipping { get; private set; }

        public void Warn(string file, int line, string message) => _warnings.Add(new SshConfigWarning(file, line, message));

        public void StartBlock(IReadOnlyList<string> patterns, string file, int line)
        {
            _current = new Block(patterns, file, line);
            _blocks.Add(_current);
            Skipping = false;
        }

        public void StartSkipping()
        {
            _current = null;
            Skipping = true;
        }

        public void Set(string key, string value)
        {
            var block = _current ?? _blocks[0];
            block.Values.TryAdd(key, value);
        }

        public SshConfig Build()
        {
            var hosts = new List<SshHost>();
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var block in _blocks.Skip(1))
            {
                foreach (var alias in block.Patterns)
                {
                    if (IsWildcard(alias) || !seen.Add(alias)) continue;
                    string? hostName = null, user = null, port = null;
                    foreach (var b in _blocks)
                    {
                        if (!b.Matches(alias)) continue;
                        hostName ??= b.Values.GetValueOrDefault("hostname");
                        user ??= b.Values.GetValueOrDefault("user");
                        port ??= b.Values.GetValueOrDefault("port");
                    }
                    // %h in HostName is the alias (ssh's token); a Host without HostName is reached by its alias.
                    var name = (hostName ?? alias).Replace("%h", alias, StringComparison.Ordinal);
                    hosts.Add(new SshHost(alias, name, user, port is null ? null : int.Parse(port,
                        System.Globalization.CultureInfo.InvariantCulture), block.File, block.Line));
                }
            }
            return new SshConfig(hosts, _warnings, Files.Distinct().ToList());
        }
    }
}
