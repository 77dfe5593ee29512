using System.CommandLine;

namespace Rbee.Keeper.Cli;

/// <summary><c>rbee run MODEL [PROMPT…]</c>.</summary>
public sealed class RunCommandDefinition : Command
{
    public Argument<string> Model { get; } = new("MODEL") { Description = "the model id (`rbee ls`), or an alias of the queen" };

    public Argument<string[]> Prompt { get; } = new("PROMPT")
    {
        Description = "the question; its words are joined. Without one: read stdin, or chat on a terminal",
        Arity = ArgumentArity.ZeroOrMore,
    };

    public RunCommandDefinition() : base("run", "ask a model through the queen (a worker is started where it fits) and stream the answer; chat without a prompt")
    {
        Arguments.Add(Model);
        Arguments.Add(Prompt);
    }
}

/// <summary><c>rbee ps</c>.</summary>
public sealed class PsCommandDefinition : Command
{
    public PsCommandDefinition() : base("ps", "list every worker: model, hive, url, state, device, requests in flight, CPU, memory, idle time")
    {
    }
}

/// <summary><c>rbee stop MODEL|WORKER</c>.</summary>
public sealed class StopCommandDefinition : Command
{
    public Argument<string> Target { get; } = new("MODEL|WORKER")
    {
        Description = "a model id (every worker serving it), or one worker as HIVE:PORT, PORT or its URL",
    };

    public StopCommandDefinition() : base("stop", "stop the workers serving a model, or one worker; waits until they are gone")
    {
        Arguments.Add(Target);
    }
}
