namespace Rbee.Keeper.Chat;

/// <summary>
/// What the queen is doing while an answer has not begun (queued, loading, pulling), on stderr: redrawn in place on a
/// terminal and cleared when the answer starts; one line each otherwise, so a log keeps them.
/// </summary>
public sealed class StatusLine(TextWriter error, bool terminal, bool color = false)
{
    private bool _shown;

    public void Show(string status)
    {
        if (terminal)
        {
            error.Write(color ? $"\r\u001b[K\u001b[2m{status}\u001b[0m" : $"\r\u001b[K{status}");
            _shown = true;
        }
        else error.WriteLine(status);
        error.Flush();
    }

    public void Clear()
    {
        if (!_shown) return;
        error.Write("\r\u001b[K");
        error.Flush();
        _shown = false;
    }
}
