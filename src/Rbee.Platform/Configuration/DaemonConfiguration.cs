using Microsoft.Extensions.Configuration;
using Rbee.Platform.Paths;

namespace Rbee.Platform.Configuration;

/// <summary>
/// Builds a program's configuration (each daemon's, and the worker's), later sources winning (STYLE.md §5): defaults, then the JSON config file
/// (<c>--config PATH</c>, else <c>~/.config/rbee/{daemon}.json</c> when present), then environment variables with
/// prefix <c>RBEE_</c> (<c>RBEE_Hive__Port=7836</c>, <c>RBEE_Protocol__TelemetryInterval=00:00:00.2</c>) and the
/// daemon's named variables, then command-line flags: friendly aliases (<c>--port 7836</c>) or any configuration
/// key (<c>--Protocol:TelemetryInterval=00:00:00.2</c>). An unknown flag is a start-up error, not a silent typo.
/// </summary>
public static class DaemonConfiguration
{
    public const string ConfigFileKey = "ConfigFile";

    /// <param name="environment">Reads the spec's named variables; default the process environment.</param>
    public static void Apply(IConfigurationBuilder builder, DaemonSpec spec, string[] args, Func<string, string?>? environment = null) =>
        Apply(builder, spec, args, environment ?? Environment.GetEnvironmentVariable, variables: null);

    /// <summary>As above, with <paramref name="environment"/> standing for the whole process environment (tests).</summary>
    public static void Apply(IConfigurationBuilder builder, DaemonSpec spec, string[] args, IReadOnlyDictionary<string, string?> environment) =>
        Apply(builder, spec, args, name => environment.TryGetValue(name, out var v) ? v : null, environment);

    private static void Apply(IConfigurationBuilder builder, DaemonSpec spec, string[] args, Func<string, string?> environment,
        IReadOnlyDictionary<string, string?>? variables)
    {
        var aliases = new Dictionary<string, string>(spec.Common, StringComparer.Ordinal);
        foreach (var (flag, key) in spec.FlagAliases) aliases[flag] = key;
        CheckFlags(args, aliases, spec.ProgramName);

        builder.Sources.Clear();
        builder.AddInMemoryCollection(spec.Defaults ?? new Dictionary<string, string?>());

        var explicitFile = FlagValue(args, "--config");
        if (explicitFile is not null)
        {
            var path = RbeePaths.ExpandHome(explicitFile);
            if (!File.Exists(path)) throw new StartupException($"config file {path} (--config) does not exist");
            AddJson(builder, path);
        }
        else
        {
            var path = RbeePaths.ConfigFile(spec.Name);
            if (File.Exists(path)) AddJson(builder, path);
        }

        const string prefix = Rbee.Contracts.Protocol.ProtocolConstants.EnvironmentPrefix;
        if (variables is null) builder.AddEnvironmentVariables(prefix);
        else
            // What the environment provider does with the process environment: prefix off, "__" as the section separator.
            builder.AddInMemoryCollection(variables
                .Where(v => v.Key.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                .Select(v => KeyValuePair.Create(v.Key[prefix.Length..].Replace("__", ConfigurationPath.KeyDelimiter, StringComparison.Ordinal), v.Value)));
        if (spec.EnvironmentAliases is { Count: > 0 })
        {
            var named = new Dictionary<string, string?>();
            foreach (var (variable, key) in spec.EnvironmentAliases)
                if (environment(variable) is { } value) named[key] = value;
            builder.AddInMemoryCollection(named);
        }

        builder.AddCommandLine(args, aliases);
    }

    private static void AddJson(IConfigurationBuilder builder, string path)
    {
        // Parse now so a broken file is one clear start-up line instead of a stack trace at first use.
        try
        {
            using var probe = File.OpenRead(path);
            System.Text.Json.JsonDocument.Parse(probe, new System.Text.Json.JsonDocumentOptions { CommentHandling = System.Text.Json.JsonCommentHandling.Skip, AllowTrailingCommas = true }).Dispose();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or IOException or UnauthorizedAccessException)
        {
            throw new StartupException($"config file {path} is not readable JSON: {e.Message}");
        }
        builder.AddJsonFile(path, optional: false, reloadOnChange: false);
    }

    /// <summary>The value of <paramref name="flag"/> in either form (<c>--flag v</c>, <c>--flag=v</c>), or null.</summary>
    public static string? FlagValue(string[] args, string flag)
    {
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == flag) return i + 1 < args.Length ? args[i + 1] : throw new StartupException($"{flag} needs a value");
            if (args[i].StartsWith(flag + "=", StringComparison.Ordinal)) return args[i][(flag.Length + 1)..];
        }
        return null;
    }

    // Every argument is a flag followed by its value: a friendly alias or a configuration key (containing ':').
    private static void CheckFlags(string[] args, Dictionary<string, string> aliases, string program)
    {
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
                throw new StartupException($"unexpected argument '{arg}' (flags are --name value; see {program} --help)");
            var eq = arg.IndexOf('=');
            var name = eq < 0 ? arg : arg[..eq];
            if (!aliases.ContainsKey(name) && !name.Contains(':', StringComparison.Ordinal) && !IsPlainKey(name))
                throw new StartupException($"unknown flag {name} (known: {string.Join(", ", aliases.Keys.Order(StringComparer.Ordinal))}; or any --Section:Key)");
            if (eq < 0)
            {
                if (i + 1 >= args.Length) throw new StartupException($"{name} needs a value");
                i++;
            }
        }
    }

    // A top-level configuration key spelled as a flag (--ClusterTokenFile) starts with a capital letter.
    private static bool IsPlainKey(string flag) => flag.Length > 2 && char.IsUpper(flag[2]);

    /// <summary>The help text listing a daemon's flags.</summary>
    public static string Help(DaemonSpec spec)
    {
        var lines = new List<string> { $"usage: {spec.ProgramName} [--flag value]...", "" };
        foreach (var (flag, key) in spec.Common.Concat(spec.FlagAliases).OrderBy(p => p.Key, StringComparer.Ordinal))
            lines.Add($"  {flag,-24} {key}");
        lines.Add("");
        lines.Add($"Any configuration key may be given as --Section:Key value, as env RBEE_Section__Key, or in ~/.config/rbee/{spec.Name}.json.");
        return string.Join('\n', lines);
    }
}
