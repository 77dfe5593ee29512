using System.CommandLine;
using System.Text;

namespace Rbee.Keeper.Completion;

/// <summary>
/// Shell completion scripts for <c>rbee completion bash|zsh|fish</c>, written from the command tree itself, so a new
/// command or option completes without touching this class. Static: a Tab never starts the CLI.
/// </summary>
public static class CompletionScripts
{
    public static readonly string[] Shells = ["bash", "zsh", "fish"];

    public static string For(string shell, RootCommand root) => shell switch
    {
        "bash" => Bash(root),
        "zsh" => "# rbee completion for zsh: source <(rbee completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n" + Bash(root),
        "fish" => Fish(root),
        _ => throw new ArgumentOutOfRangeException(nameof(shell), shell, "not a shell rbee completes for"),
    };

    public static string Bash(RootCommand root)
    {
        var global = Names(root.Options);
        // What a subcommand also takes from the root: its recursive options (--queen-url, --json, --help), not --version.
        var recursive = Names(root.Options.Where(o => o.Recursive));
        var valued = string.Join('|', AllOptions(root).Where(TakesValue).SelectMany(o => new[] { o.Name }.Concat(o.Aliases)).Distinct().Order(StringComparer.Ordinal));
        var sb = new StringBuilder();
        sb.Append("# rbee completion for bash: source <(rbee completion bash)\n");
        sb.Append("_rbee() {\n");
        sb.Append("  local cur=${COMP_WORDS[COMP_CWORD]} cmd=\"\" i skip=0\n");
        sb.Append("  for ((i = 1; i < COMP_CWORD; i++)); do\n");
        sb.Append("    if ((skip)); then skip=0; continue; fi\n");
        sb.Append("    case ${COMP_WORDS[i]} in\n");
        if (valued.Length > 0) sb.Append($"      {valued}) skip=1 ;;\n");
        sb.Append("      -*) ;;\n");
        sb.Append("      *) cmd=${COMP_WORDS[i]}; break ;;\n");
        sb.Append("    esac\n");
        sb.Append("  done\n");
        sb.Append("  local words\n");
        sb.Append("  case $cmd in\n");
        sb.Append($"    \"\") words=\"{string.Join(' ', Visible(root.Subcommands).Select(c => c.Name).Concat(global))}\" ;;\n");
        foreach (var c in Visible(root.Subcommands))
        {
            var names = string.Join('|', new[] { c.Name }.Concat(c.Aliases));
            var sub = Visible(c.Subcommands).Select(s => s.Name);
            var shells = c.Name == "completion" ? Shells : [];
            sb.Append($"    {names}) words=\"{string.Join(' ', sub.Concat(shells).Concat(Names(c.Options)).Concat(recursive))}\" ;;\n");
        }
        sb.Append("  esac\n");
        sb.Append("  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n");
        sb.Append("}\n");
        sb.Append("complete -F _rbee rbee\n");
        return sb.ToString();
    }

    public static string Fish(RootCommand root)
    {
        var sb = new StringBuilder("# rbee completion for fish: rbee completion fish | source\n");
        sb.Append("complete -c rbee -f\n");
        foreach (var c in Visible(root.Subcommands))
            sb.Append($"complete -c rbee -n __fish_use_subcommand -a {c.Name} -d {Quote(c.Description)}\n");
        foreach (var o in Visible(root.Options))
            sb.Append($"complete -c rbee -l {o.Name.TrimStart('-')} -d {Quote(o.Description)}{(TakesValue(o) ? " -r" : "")}\n");
        foreach (var c in Visible(root.Subcommands))
        {
            foreach (var o in Visible(c.Options))
                sb.Append($"complete -c rbee -n '__fish_seen_subcommand_from {c.Name}' -l {o.Name.TrimStart('-')} -d {Quote(o.Description)}{(TakesValue(o) ? " -r" : "")}\n");
            if (c.Name == "completion")
                sb.Append($"complete -c rbee -n '__fish_seen_subcommand_from completion' -a '{string.Join(' ', Shells)}'\n");
        }
        return sb.ToString();
    }

    private static IEnumerable<Command> Visible(IEnumerable<Command> commands) => commands.Where(c => !c.Hidden);

    private static IEnumerable<Option> Visible(IEnumerable<Option> options) => options.Where(o => !o.Hidden);

    private static IEnumerable<string> Names(IEnumerable<Option> options) =>
        Visible(options).SelectMany(o => new[] { o.Name }.Concat(o.Aliases.Where(a => a.StartsWith("--", StringComparison.Ordinal))));

    private static IEnumerable<Option> AllOptions(RootCommand root) => root.Options.Concat(root.Subcommands.SelectMany(c => c.Options));

    private static bool TakesValue(Option o) => o.ValueType != typeof(bool) && o.Arity.MaximumNumberOfValues > 0;

    private static string Quote(string? s) => "'" + (s ?? "").Replace("'", "\\'", StringComparison.Ordinal) + "'";
}
