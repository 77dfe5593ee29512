using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Keeper.Cli;
using Rbee.Keeper.Connection;
using Rbee.Keeper.Output;
using Rbee.Platform.Paths;
using Spectre.Console;

namespace Rbee.Keeper.Config;

/// <summary>A value this rbee uses, as <see cref="GlobalOptions"/> resolved it: the value and where it came from.</summary>
public sealed record ResolvedSetting(string Key, string? Value, string Source);

public sealed record ConfigShowRequest(ControlEndpoint Endpoint, IReadOnlyList<ResolvedSetting> Cli, string? Hive, bool Json);

/// <summary>
/// <c>rbee config show [--hive H]</c>: the effective configuration with the source of each value: this rbee's (queen
/// URL, token, SSH config, directories), then the queen's and, with <c>--hive</c> or <c>--hive-url</c>, a hive's own
/// report (<c>GET /v1/config</c>: every value set by a file, the environment or a flag; the rest are defaults).
/// Secrets are masked everywhere: the report says where the token comes from, never what it is.
/// </summary>
public sealed class ConfigShowCommand(KeeperIo io)
{
    public async Task<int> RunAsync(ConfigShowRequest request, CancellationToken ct)
    {
        var cli = request.Cli.Select(s => new ConfigEntry(s.Key, s.Value, s.Source)).ToList();
        var unreachable = new List<string>();
        string? queen = null, hive = null;
        using var client = QueenClient.Create(request.Endpoint);
        if (client.IsHive)
        {
            if (request.Hive is not null) throw CliFailure.Usage("rbee config show: --hive names a hive at the queen; with --hive-url the hive is that one");
            hive = await TryGetAsync(client, "/v1/config", "the hive", unreachable, ct);
        }
        else
        {
            queen = await TryGetAsync(client, "/v1/config", "the queen", unreachable, ct);
            if (request.Hive is { } h) hive = await TryGetAsync(client, $"/v1/hives/{Uri.EscapeDataString(h)}/config", $"hive {h}", unreachable, ct);
        }

        if (request.Json)
        {
            io.Output.WriteLine(JsonSerializer.Serialize(new ConfigOutput(cli, KeeperJsonContext.Element(queen), KeeperJsonContext.Element(hive), unreachable), KeeperJsonContext.Default.ConfigOutput));
        }
        else
        {
            io.Out.Write(Render("rbee", null, cli));
            foreach (var json in new[] { queen, hive })
                if (json is not null && JsonSerializer.Deserialize(json, RbeeJsonContext.Default.ConfigReport) is { } report)
                    io.Out.Write(Render(report.Program, report.ConfigFile, report.Entries));
            foreach (var u in unreachable) io.Error.WriteLine($"rbee config show: {u}");
        }
        return unreachable.Count == 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }

    private static async Task<string?> TryGetAsync(QueenClient client, string path, string what, List<string> unreachable, CancellationToken ct)
    {
        try
        {
            return await client.GetStringAsync(path, ct);
        }
        catch (CliFailure e)
        {
            unreachable.Add($"{what}'s configuration: {e.Message}");
            return null;
        }
    }

    public static Spectre.Console.Rendering.IRenderable Render(string program, string? file, IReadOnlyList<ConfigEntry> entries)
    {
        var table = new Table().NoBorder().AddColumns("KEY", "VALUE", "SOURCE");
        foreach (var e in entries) table.AddRow(Markup.Escape(e.Key), Markup.Escape(e.Value ?? "-"), Markup.Escape(e.Source));
        if (entries.Count == 0) table.Caption("nothing set: every value is the built-in default (docs/architecture.md, Configuration)");
        return new Rows(new Text(program + (file is null ? "" : $" (config file {file})"), new Style(decoration: Decoration.Bold)), table, Text.Empty);
    }


    /// <summary>What this rbee resolves from its flags, the environment and its files, each with its source.</summary>
    public static List<ResolvedSetting> Resolve(Uri queenUrl, string queenSource, Uri? hiveUrl, string? sshConfig, string sshSource)
    {
        var settings = new List<ResolvedSetting>
        {
            new("queen_url", CliFailure.Display(queenUrl), queenSource),
            new("hive_url", hiveUrl is null ? null : CliFailure.Display(hiveUrl), hiveUrl is null ? "unset (talk to the queen)" : "flag --hive-url"),
        };
        var fromEnv = Environment.GetEnvironmentVariable(ProtocolConstants.ClusterTokenEnvironmentVariable) is { Length: > 0 };
        string? token;
        try { token = ClusterTokenStore.Read(); }
        catch (CliFailure) { token = null; }   // shown below as "not readable by this user"
        settings.Add(new("cluster_token", token is null ? null : ConfigEntry.Masked,
            fromEnv ? $"env {ProtocolConstants.ClusterTokenEnvironmentVariable}"
            : token is not null ? $"file {RbeePaths.TokenFile}"
            : File.Exists(RbeePaths.TokenFile) ? $"file {RbeePaths.TokenFile} (not readable by this user)"
            : $"none: `rbee up` creates {RbeePaths.TokenFile}"));
        settings.Add(new("ssh_config", sshConfig, sshSource));
        settings.Add(new("config_directory", RbeePaths.ConfigDirectory, XdgSource("XDG_CONFIG_HOME")));
        settings.Add(new("state_directory", RbeePaths.StateDirectory, XdgSource("XDG_STATE_HOME")));
        settings.Add(new("daemon_logs", Path.GetDirectoryName(RbeePaths.DaemonLogFile("queen-rbee")), "state_directory/logs (`rbee up`)"));
        settings.Add(new("color", Environment.GetEnvironmentVariable("NO_COLOR") is { Length: > 0 } ? "off" : "on when a terminal",
            Environment.GetEnvironmentVariable("NO_COLOR") is { Length: > 0 } ? "env NO_COLOR" : "default"));
        return settings;
    }

    private static string XdgSource(string variable) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } ? $"env {variable}" : "default (HOME)";
}
