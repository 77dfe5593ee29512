using System.CommandLine;

namespace Rbee.Keeper.Cli;

/// <summary>The options of the log commands: <c>-n N</c> lines, <c>-f</c> to follow (as <c>tail</c> takes them).</summary>
public static class LogOptions
{
    public static Option<int> Lines() => new("--lines", "-n")
    {
        Description = "how many of the last lines to show (0 to 10000)",
        DefaultValueFactory = _ => 100,
        CustomParser = r =>
        {
            var text = r.Tokens.Single().Value;
            if (int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n) && n is >= 0 and <= 10_000) return n;
            r.AddError($"--lines '{text}': give a number of lines from 0 to 10000");
            return 0;
        },
    };

    public static Option<bool> Follow() => new("--follow", "-f") { Description = "keep printing what is appended, until Ctrl-C" };
}

/// <summary><c>rbee logs WORKER [-n N] [-f]</c>.</summary>
public sealed class LogsCommandDefinition : Command
{
    public Argument<string> Worker { get; } = new("WORKER")
    {
        Description = "HIVE:PORT, PORT, the worker's URL, or a model served by one worker (an exited worker: HIVE:PORT)",
    };

    public Option<int> Lines { get; } = LogOptions.Lines();
    public Option<bool> Follow { get; } = LogOptions.Follow();

    public LogsCommandDefinition() : base("logs", "print a worker's log (its last lines; -f follows it)")
    {
        Arguments.Add(Worker);
        Options.Add(Lines);
        Options.Add(Follow);
    }
}

/// <summary><c>rbee hive status|logs [HIVE]</c>.</summary>
public sealed class HiveCommandDefinition : Command
{
    public HiveStatusCommandDefinition Status { get; } = new();
    public HiveLogsCommandDefinition Logs { get; } = new();

    public HiveCommandDefinition() : base("hive", "one hive: its status as the queen and the hive see it, its log")
    {
        Subcommands.Add(Status);
        Subcommands.Add(Logs);
    }
}

public sealed class HiveStatusCommandDefinition : Command
{
    public Argument<string?> Hive { get; } = new("HIVE") { Description = "the hive (default: the only one)", Arity = ArgumentArity.ZeroOrOne };

    public HiveStatusCommandDefinition() : base("status", "a hive's state, devices, CPU, RAM and workers, and its own check (monitoring, worker types)")
    {
        Arguments.Add(Hive);
    }
}

public sealed class HiveLogsCommandDefinition : Command
{
    public Argument<string?> Hive { get; } = new("HIVE") { Description = "the hive (default: the only one)", Arity = ArgumentArity.ZeroOrOne };
    public Option<int> Lines { get; } = LogOptions.Lines();
    public Option<bool> Follow { get; } = LogOptions.Follow();

    public HiveLogsCommandDefinition() : base("logs", "print a hive's own log (its last lines; -f follows it)")
    {
        Arguments.Add(Hive);
        Options.Add(Lines);
        Options.Add(Follow);
    }
}

/// <summary><c>rbee config show [--hive H]</c>.</summary>
public sealed class ConfigCommandDefinition : Command
{
    public ConfigShowCommandDefinition Show { get; } = new();

    public ConfigCommandDefinition() : base("config", "the configuration in force")
    {
        Subcommands.Add(Show);
    }
}

public sealed class ConfigShowCommandDefinition : Command
{
    public Option<string> Hive { get; } = new("--hive") { Description = "also show this hive's configuration (through the queen)" };

    public ConfigShowCommandDefinition() : base("show", "every value in force with its source (flag, environment, file, default): this rbee's, the queen's, a hive's; secrets masked")
    {
        Options.Add(Hive);
    }
}
