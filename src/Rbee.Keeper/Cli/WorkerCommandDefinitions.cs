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
