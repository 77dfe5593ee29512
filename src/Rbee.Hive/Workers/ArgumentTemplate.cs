using System.Text.RegularExpressions;

namespace Rbee.Hive.Workers;

/// <summary>The values a catalog argument template may name. <paramref name="ModelId"/> defaults to the model file's name
/// without extension (what llm-worker-rbee itself would answer to).</summary>
public sealed record LaunchValues(string Model, int Port, string Host, string Device, string WorkerId, string ReadyFile, string? ModelId = null);

/// <summary>Expands a worker type's argument template; each template item stays one argument (no shell, no splitting).</summary>
public static partial class ArgumentTemplate
{
    public static readonly string[] Placeholders = ["model", "model_id", "port", "host", "device", "worker_id", "ready_file"];

    [GeneratedRegex(@"\{([a-z_]+)\}")]
    private static partial Regex Placeholder();

    public static List<string> Expand(IEnumerable<string> template, LaunchValues v) =>
        template.Select(item => Placeholder().Replace(item, m => m.Groups[1].Value switch
        {
            "model" => v.Model,
            "model_id" => v.ModelId ?? Rbee.Models.ModelFiles.IdOf(v.Model),
            "port" => v.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "host" => v.Host,
            "device" => v.Device,
            "worker_id" => v.WorkerId,
            "ready_file" => v.ReadyFile,
            _ => m.Value,
        })).ToList();

    /// <summary>The first placeholder that is not one of <see cref="Placeholders"/>, or null.</summary>
    public static string? UnknownPlaceholder(IEnumerable<string> template) =>
        template.SelectMany(t => Placeholder().Matches(t)).Select(m => m.Groups[1].Value)
            .FirstOrDefault(p => !Placeholders.Contains(p)) is { } bad ? "{" + bad + "}" : null;
}
