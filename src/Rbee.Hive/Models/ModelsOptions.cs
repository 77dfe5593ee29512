using Rbee.Models;
using Rbee.Platform.Configuration;
using Rbee.Platform.Paths;

namespace Rbee.Hive.Models;

/// <summary>
/// The hive's model catalog (section <c>Models</c>). The models directory itself is <c>Hive:ModelsDir</c>
/// (<c>--models-dir</c>, default <c>~/.cache/rbee/models</c>), the one setting spawn also uses for a model given by name;
/// <see cref="Paths"/> adds more files or directories after it. Configured paths must exist at start-up; the models
/// directory may appear later.
/// </summary>
public sealed class ModelsOptions
{
    public const string SectionName = "Models";

    /// <summary>More <c>.gguf</c> files, or directories of them, listed after the models directory, in this order
    /// (<c>Models:Paths:0</c>, env <c>RBEE_Models__Paths__0</c>). A leading <c>~/</c> is the user's home.</summary>
    public string[] Paths { get; set; } = [];

    /// <summary>The safety-net rescan: a listing and a stat per file (nothing is parsed unless a file changed). It also
    /// finds a directory created after start; inotify sees every other change at once.</summary>
    public TimeSpan RescanInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long after the first inotify event of a burst the catalog rescans (one copy makes several events).</summary>
    public TimeSpan Debounce { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>A file that stays incomplete (shorter than its header says) and unchanged this long is reported once:
    /// it is truncated, not being copied.</summary>
    public TimeSpan IncompleteWarnAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary><see cref="Paths"/> as full paths.</summary>
    public IReadOnlyList<string> ResolvedPaths => Paths.Select(RbeePaths.ExpandHome).ToList();

    /// <summary>The first problem, as one line naming the setting, or null.</summary>
    public string? Validate()
    {
        for (var i = 0; i < Paths.Length; i++)
        {
            var p = Paths[i];
            if (string.IsNullOrWhiteSpace(p)) return $"Models:Paths:{i} is empty";
            var full = RbeePaths.ExpandHome(p);
            if (Directory.Exists(full)) continue;
            if (!File.Exists(full)) return $"Models:Paths:{i} '{p}' does not exist (give a .gguf file or a directory of them)";
            if (!full.EndsWith(ModelFiles.Extension, StringComparison.OrdinalIgnoreCase))
                return $"Models:Paths:{i} '{p}' is a file but not a {ModelFiles.Extension} file";
        }
        if (RescanInterval <= TimeSpan.Zero) return $"Models:RescanInterval {RescanInterval} must be positive";
        if (Debounce < TimeSpan.Zero || Debounce >= RescanInterval) return $"Models:Debounce {Debounce} must be at least 0 and below Models:RescanInterval";
        if (IncompleteWarnAfter <= TimeSpan.Zero) return $"Models:IncompleteWarnAfter {IncompleteWarnAfter} must be positive";
        return null;
    }
}
