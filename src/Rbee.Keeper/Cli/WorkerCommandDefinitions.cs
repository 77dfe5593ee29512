using System.CommandLine;
using Rbee.Keeper.Completion;

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

    public Option<string[]> Parameters { get; } = new("--param", "-p")
    {
        Description = "a request field as KEY=VALUE, VALUE as JSON when it is JSON (temperature=0, max_tokens=200, ignore_eos=true); repeatable",
        Arity = ArgumentArity.OneOrMore,
        Validators =
        {
            r =>
            {
                foreach (var t in r.Tokens)
                {
                    var eq = t.Value.IndexOf('=');
                    if (eq <= 0) r.AddError($"--param '{t.Value}' is not KEY=VALUE");
                    else if (t.Value[..eq] is "model" or "messages" or "stream") r.AddError($"--param cannot set '{t.Value[..eq]}': rbee run sets it");
                }
            },
        },
    };

    public RunCommandDefinition() : base("run", "ask a model through the queen (a worker is started where it fits) and stream the answer; chat without a prompt")
    {
        Arguments.Add(Model);
        Arguments.Add(Prompt);
        Options.Add(Parameters);
    }
}

/// <summary><c>rbee ps</c>.</summary>
public sealed class PsCommandDefinition : Command
{
    public PsCommandDefinition() : this("ps", "list every worker: model, hive, url, state, device, requests in flight, CPU, memory, idle time")
    {
    }

    public PsCommandDefinition(string name, string description) : base(name, description)
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

    public StopCommandDefinition() : this("stop", "stop the workers serving a model, or one worker; waits until they are gone")
    {
    }

    public StopCommandDefinition(string name, string description) : base(name, description)
    {
        Arguments.Add(Target);
    }
}

/// <summary><c>rbee completion bash|zsh|fish</c>.</summary>
public sealed class CompletionCommandDefinition : Command
{
    public Argument<string> Shell { get; } = new("SHELL") { Description = "bash, zsh or fish" };

    public CompletionCommandDefinition() : base("completion", "print a shell completion script: source <(rbee completion bash)")
    {
        Shell.AcceptOnlyFromAmong(CompletionScripts.Shells);
        Arguments.Add(Shell);
    }
}

/// <summary><c>rbee worker spawn|list|stop</c>: workers by hand (a person's worker is never stopped by the idle timeout).</summary>
public sealed class WorkerCommandDefinition : Command
{
    public WorkerSpawnCommandDefinition Spawn { get; } = new();
    public PsCommandDefinition List { get; } = new("list", "list every worker (as `rbee ps`)");
    public StopCommandDefinition Stop { get; } = new("stop", "stop one worker (HIVE:PORT, PORT or URL), or every worker of a model (as `rbee stop`)");

    public WorkerCommandDefinition() : base("worker", "start, list and stop workers by hand")
    {
        Subcommands.Add(Spawn);
        Subcommands.Add(List);
        Subcommands.Add(Stop);
    }
}

/// <summary><c>rbee worker spawn MODEL [--hive H] [--device D] [--type T]</c>.</summary>
public sealed class WorkerSpawnCommandDefinition : Command
{
    public Argument<string> Model { get; } = new("MODEL") { Description = "the model id (`rbee ls`), or a GGUF path on the hive" };
    public Option<string> Hive { get; } = new("--hive") { Description = "the hive to start it on (default: the one online hive)" };

    public Option<string> Device { get; } = new("--device")
    {
        Description = "cpu or cuda:N",
        DefaultValueFactory = _ => "cpu",
    };

    public Option<string> WorkerType { get; } = new("--type") { Description = "the worker type (default: the hive's llm)" };

    public WorkerSpawnCommandDefinition() : base("spawn", "start a worker for a model on a hive and wait until it is ready")
    {
        Arguments.Add(Model);
        Options.Add(Hive);
        Options.Add(Device);
        Options.Add(WorkerType);
    }
}
