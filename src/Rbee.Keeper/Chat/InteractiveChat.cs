using Rbee.Keeper.Cli;
using Rbee.Keeper.Connection;

namespace Rbee.Keeper.Chat;

/// <summary>
/// The chat of <c>rbee run MODEL</c> on a terminal: the conversation is kept for the session and sent whole with each
/// question; answers stream as they come; <c>/bye</c> or Ctrl-D leaves; Ctrl-C stops the current answer only (what was
/// shown stays in the history, as the person saw it).
/// </summary>
public sealed class InteractiveChat(KeeperIo io, ChatClient chat, string model)
{
    public const string Prompt = ">>> ";

    private readonly List<ChatMessage> _history = [];
    private CancellationTokenSource? _answer;

    public IReadOnlyList<ChatMessage> History => _history;

    public async Task<int> RunAsync(CancellationToken ct)
    {
        io.Error.WriteLine($"chatting with {model} through {CliFailure.Display(chat.QueenUrl)}; /bye or Ctrl-D leaves, Ctrl-C stops an answer, /clear forgets");
        var answered = false;
        using var _ = CtrlC.Override(() =>
        {
            if (Volatile.Read(ref _answer) is { } answer) answer.Cancel();
            else io.Error.Write($"\n(use Ctrl-D or /bye to leave)\n{Prompt}");
        });
        while (!ct.IsCancellationRequested)
        {
            io.Error.Write(Prompt);
            io.Error.Flush();
            var line = await io.Input.ReadLineAsync(ct);
            if (line is null)
            {
                io.Error.WriteLine();
                break;
            }
            var question = line.Trim();
            if (question.Length == 0) continue;
            if (question is "/bye" or "/exit" or "/quit") break;
            if (question == "/clear")
            {
                _history.Clear();
                io.Error.WriteLine("(history cleared)");
                continue;
            }
            if (question is "/?" or "/help")
            {
                io.Error.WriteLine("/bye leaves, /clear forgets the conversation, Ctrl-C stops an answer, Ctrl-D leaves");
                continue;
            }

            _history.Add(new ChatMessage("user", question));
            var shown = new System.Text.StringBuilder();
            using var answer = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Volatile.Write(ref _answer, answer);
            var status = new StatusLine(io.Error, io.ErrorIsTerminal, io.ErrorHasColor);
            try
            {
                await chat.StreamAsync(model, _history, text =>
                {
                    status.Clear();
                    shown.Append(text);
                    io.Output.Write(text);
                    io.Output.Flush();
                }, status.Show, answer.Token);
                answered = true;
            }
            catch (OperationCanceledException) when (answer.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                status.Clear();
                io.Error.WriteLine(shown.Length > 0 ? "\n(stopped)" : "(stopped)");
                if (shown.Length == 0)
                {
                    _history.RemoveAt(_history.Count - 1);
                    continue;
                }
                _history.Add(new ChatMessage("assistant", shown.ToString()));
                continue;
            }
            catch (CliFailure e)
            {
                status.Clear();
                io.Error.WriteLine($"rbee run: {e.Message}");
                _history.RemoveAt(_history.Count - 1);
                // Nothing has worked yet (an unknown model, no queen): leave with the error, as a one-shot run would.
                if (!answered) return e.ExitCode;
                continue;
            }
            finally
            {
                Volatile.Write(ref _answer, null);
            }
            _history.Add(new ChatMessage("assistant", shown.ToString()));
            io.Output.WriteLine();
        }
        return ExitCodes.Ok;
    }
}
