using System.CommandLine;

namespace Rbee.Keeper.Cli;

/// <summary><c>--hive H</c> (repeatable) and <c>--all</c>: the hives a model command acts on.</summary>
internal static class HiveOptions
{
    public static Option<string[]> Hive(string what) => new("--hive")
    {
        Description = $"hive id to {what} (repeat for several; default: the one online hive)",
        AllowMultipleArgumentsPerToken = false,
        Arity = ArgumentArity.OneOrMore,
    };

    public static Option<bool> All(string what) => new("--all") { Description = $"{what} every online hive" };
}

/// <summary><c>rbee ls</c>.</summary>
public sealed class LsCommandDefinition : Command
{
    public Option<string> Hive { get; } = new("--hive") { Description = "only the models of this hive" };

    public LsCommandDefinition() : base("ls", "list the models on every hive: name, hive, size, quantisation, context, source")
    {
        Aliases.Add("list");
        Options.Add(Hive);
    }
}

/// <summary><c>rbee pull SOURCE</c>.</summary>
public sealed class PullCommandDefinition : Command
{
    public Argument<string> Source { get; } = new("SOURCE")
    {
        Description = "org/repo:file.gguf, org/repo:Q4_K_M, an https://…/file.gguf URL (#sha256=… to verify), or an alias of the queen",
    };

    public Option<string[]> Hive { get; } = HiveOptions.Hive("download onto");
    public Option<bool> All { get; } = HiveOptions.All("download onto");
    public Option<string> ModelName { get; } = new("--name") { Description = "the model id to give it (default: the file's name)" };

    public PullCommandDefinition() : base("pull", "download a model onto one hive, several, or all of them, with progress")
    {
        Arguments.Add(Source);
        Options.Add(Hive);
        Options.Add(All);
        Options.Add(ModelName);
    }
}

/// <summary><c>rbee rm MODEL</c>.</summary>
public sealed class RmCommandDefinition : Command
{
    public Argument<string> Model { get; } = new("MODEL") { Description = "the model id, as `rbee ls` shows it" };
    public Option<string[]> Hive { get; } = HiveOptions.Hive("delete it from");
    public Option<bool> All { get; } = HiveOptions.All("delete it from");

    public RmCommandDefinition() : base("rm", "delete a model's file from a hive (refused while a worker serves it)")
    {
        Arguments.Add(Model);
        Options.Add(Hive);
        Options.Add(All);
    }
}
