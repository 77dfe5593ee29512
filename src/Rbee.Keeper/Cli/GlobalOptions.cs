using System.CommandLine;
using Rbee.Contracts.Protocol;

namespace Rbee.Keeper.Cli;

/// <summary>
/// Options every command takes, declared once on the root and recursive, so they are accepted before or after the
/// subcommand (<c>rbee --json ps</c> and <c>rbee ps --json</c>).
/// </summary>
public sealed class GlobalOptions
{
    /// <summary>The variable that points the CLI at another queen, as <c>--queen-url</c> does.</summary>
    public const string QueenUrlVariable = "RBEE_QUEEN_URL";

    public Option<Uri> QueenUrl { get; } = new("--queen-url")
    {
        Description = $"URL of queen-rbee (default: ${QueenUrlVariable}, else {ProtocolConstants.DefaultQueenUrl})",
        Recursive = true,
        DefaultValueFactory = r =>
        {
            var env = Environment.GetEnvironmentVariable(QueenUrlVariable);
            if (string.IsNullOrWhiteSpace(env)) return new Uri(ProtocolConstants.DefaultQueenUrl);
            if (ParseHttpUrl(env) is { } u) return u;
            r.AddError($"{QueenUrlVariable} '{env}' is not an absolute http(s) URL");
            return null!;
        },
        CustomParser = r =>
        {
            var text = r.Tokens.Single().Value;
            if (ParseHttpUrl(text) is { } u) return u;
            r.AddError($"--queen-url '{text}' is not an absolute http(s) URL");
            return null;
        },
    };

    public Option<Uri> HiveUrl { get; } = new("--hive-url")
    {
        Description = "talk to this rbee-hive directly, with no queen (run, ls, pull, rm, ps, stop, worker, logs, hive, config)",
        Recursive = true,
        CustomParser = r =>
        {
            var text = r.Tokens.Single().Value;
            if (ParseHttpUrl(text) is { } u) return u;
            r.AddError($"--hive-url '{text}' is not an absolute http(s) URL");
            return null;
        },
    };

    /// <summary>The variable that names another SSH config file, as <c>--ssh-config</c> does.</summary>
    public const string SshConfigVariable = "RBEE_SSH_CONFIG";

    /// <summary>The file ssh reads when nothing else is named.</summary>
    public static string DefaultSshConfig => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ssh", "config");

    public Option<string> SshConfig { get; } = new("--ssh-config")
    {
        Description = $"the SSH config whose hosts the queen looks for hives on (default: ${SshConfigVariable}, else ~/.ssh/config); `rbee up` hands it to the queen it starts",
        Recursive = true,
        HelpName = "FILE",
        Validators =
        {
            r =>
            {
                var path = Platform.Paths.RbeePaths.ExpandHome(r.Tokens.Single().Value);
                if (!File.Exists(path)) r.AddError($"--ssh-config '{r.Tokens.Single().Value}': no such file");
            },
        },
    };

    public Option<bool> Json { get; } = new("--json")
    {
        Description = "print the answer as JSON (stable fields, see docs/cli.md)",
        Recursive = true,
    };

    public void AddTo(RootCommand root)
    {
        root.Options.Add(QueenUrl);
        root.Options.Add(HiveUrl);
        root.Options.Add(SshConfig);
        root.Options.Add(Json);
    }

    /// <summary>Where <c>--queen-url</c>'s value came from: the flag, the variable or the default.</summary>
    public string QueenUrlSource(ParseResult p) =>
        p.GetResult(QueenUrl) is { Implicit: false } ? "flag --queen-url"
        : Environment.GetEnvironmentVariable(QueenUrlVariable) is { Length: > 0 } ? $"env {QueenUrlVariable}" : "default";

    /// <summary>
    /// The SSH config named by <c>--ssh-config</c> or <c>RBEE_SSH_CONFIG</c> (full path), else null (the queen's default,
    /// <c>~/.ssh/config</c>); <paramref name="source"/> says which.
    /// </summary>
    public string? SshConfigPath(ParseResult p, out string source)
    {
        if (p.GetValue(SshConfig) is { } flag)
        {
            source = "flag --ssh-config";
            return Path.GetFullPath(Platform.Paths.RbeePaths.ExpandHome(flag));
        }
        if (Environment.GetEnvironmentVariable(SshConfigVariable) is { Length: > 0 } env)
        {
            var path = Path.GetFullPath(Platform.Paths.RbeePaths.ExpandHome(env));
            if (!File.Exists(path)) throw Connection.CliFailure.Usage($"{SshConfigVariable} '{env}': no such file");
            source = $"env {SshConfigVariable}";
            return path;
        }
        source = File.Exists(DefaultSshConfig) ? "default" : "default (absent: no hives from SSH)";
        return null;
    }

    /// <summary>The hive of <c>--hive-url</c> when given, else the queen.</summary>
    public Connection.ControlEndpoint Endpoint(ParseResult p) =>
        p.GetValue(HiveUrl) is { } hive ? new(hive, IsHive: true) : new(p.GetValue(QueenUrl)!);

    /// <summary>For the commands that need the queen: <c>--hive-url</c> is a usage error naming the ones that take it.</summary>
    public Uri QueenOnly(ParseResult p, string command) =>
        p.GetValue(HiveUrl) is null ? p.GetValue(QueenUrl)! : throw Connection.CliFailure.Usage($"rbee {command} talks to the queen; --hive-url is for run, ls, pull, rm, ps, stop, worker, logs, hive and config");

    public static Uri? ParseHttpUrl(string text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var u) && (u.Scheme == Uri.UriSchemeHttp || u.Scheme == Uri.UriSchemeHttps) ? u : null;
}
