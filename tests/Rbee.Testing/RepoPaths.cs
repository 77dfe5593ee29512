namespace Rbee.Testing;

/// <summary>Where the repository, its test fixtures and the built programs are.</summary>
public static class RepoPaths
{
    /// <summary>The folder holding <c>rbee.slnx</c>.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary><c>tests/fixtures</c>: the real models, vocabularies and chat templates the tests read (see its README).</summary>
    public static string Models { get; } = Path.Combine(Root, "tests", "fixtures");

    public static string Model(params string[] parts) => Path.Combine([Models, .. parts]);

    /// <summary>The configuration the tests were built in (Debug or Release), taken from this assembly's path.</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
            ? "Release" : "Debug";

    private static readonly Dictionary<string, string> ProjectOf = new()
    {
        ["queen-rbee"] = "Rbee.Queen",
        ["rbee-hive"] = "Rbee.Hive",
        ["llm-worker-rbee"] = "Rbee.Worker",
        ["rbee"] = "Rbee.Keeper",
    };

    /// <summary>Path of a built program (apphost) of this repository, in the tests' own configuration.</summary>
    public static string Executable(string name)
    {
        if (!ProjectOf.TryGetValue(name, out var project)) throw new ArgumentException($"unknown program {name}");
        var path = Path.Combine(Root, "src", project, "bin", Configuration, "net10.0", name);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{name} is not built at {path}; build the solution first (dotnet build -c {Configuration})", path);
        return path;
    }

    /// <summary>The folder of a built program, for PATH.</summary>
    public static string ExecutableDirectory(string name) => Path.GetDirectoryName(Executable(name))!;

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "rbee.slnx"))) return dir.FullName;
        throw new InvalidOperationException($"rbee.slnx not found above {AppContext.BaseDirectory}");
    }
}
