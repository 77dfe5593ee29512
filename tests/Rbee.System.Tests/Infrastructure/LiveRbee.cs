using System.Diagnostics;
using System.Text;
using Rbee.Testing;

namespace Rbee.SystemTests.Infrastructure;

/// <summary>
/// The real <c>rbee</c> running while the test watches what it prints. <see cref="OnTerminal"/>: on a pseudo-terminal,
/// as a person at a keyboard runs it: util-linux <c>script</c> gives it a pty, what the test writes is typed
/// (<c>\x03</c> is Ctrl-C, <c>\x04</c> Ctrl-D), and what the terminal shows (stdout and stderr together, with the echo)
/// is read back. <see cref="Piped"/>: its stdout alone, as a script reads it. Waits are on the text as it arrives, never
/// a sleep.
/// </summary>
public sealed class LiveRbee : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _text = new();
    private readonly Lock _lock = new();
    private readonly List<(Func<string, bool> Match, TaskCompletionSource Done)> _waiters = [];
    private readonly Task _reader;

    private LiveRbee(Process process)
    {
        _process = process;
        _reader = Task.Run(ReadAsync);
    }

    /// <summary>What the terminal has shown so far.</summary>
    public string Text
    {
        get { lock (_lock) return _text.ToString(); }
    }

    public static LiveRbee Piped(IEnumerable<string> args, IDictionary<string, string?> environment)
    {
        var psi = new ProcessStartInfo(RepoPaths.Executable("rbee"))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("RBEE_", StringComparison.Ordinal)).ToList()) psi.Environment.Remove(key);
        psi.Environment[TestWorkerUser.Variable] = TestWorkerUser.Value;
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        return new LiveRbee(Process.Start(psi)!);
    }

    public static LiveRbee OnTerminal(IEnumerable<string> args, IDictionary<string, string?> environment)
    {
        // script runs the command through $SHELL -c; dash (Debian's /bin/sh, what script uses when SHELL is unset, as
        // in CI) stays as rbee's parent in the terminal's foreground group, and Ctrl-C would kill it: exec replaces it.
        // env --default-signal=INT: a test run started in the background of a script (`cmd &`) has SIGINT ignored, which
        // every child inherits and .NET keeps; a person's terminal delivers it, so rbee gets it as they would.
        var command = "exec env --default-signal=INT " + string.Join(' ', new[] { RepoPaths.Executable("rbee") }.Concat(args).Select(Quote));
        var psi = new ProcessStartInfo("script")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // -q no banner, -f flush at once, -e the child's exit code, -c the command; the typescript goes nowhere.
        foreach (var a in new[] { "-qfec", command, "/dev/null" }) psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("RBEE_", StringComparison.Ordinal)).ToList()) psi.Environment.Remove(key);
        psi.Environment[TestWorkerUser.Variable] = TestWorkerUser.Value;
        psi.Environment["TERM"] = "xterm";
        psi.Environment["SHELL"] = "/bin/sh";
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        return new LiveRbee(Process.Start(psi)!);
    }

    /// <summary>Types <paramref name="keys"/> on the terminal.</summary>
    public async Task TypeAsync(string keys)
    {
        await _process.StandardInput.WriteAsync(keys);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Awaits the terminal's text matching <paramref name="match"/>; fails naming the phase and what it showed.</summary>
    public async Task WaitForAsync(string phase, string expected, TimeSpan budget, Func<string, bool> match)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (match(_text.ToString())) return;
            _waiters.Add((match, done));
        }
        try
        {
            await done.Task.WaitAsync(budget);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"phase {phase}: expected {expected} on the terminal within {budget.TotalSeconds} s; it shows:\n{Text}");
        }
    }

    /// <summary>How many times the terminal has shown <paramref name="s"/>.</summary>
    public int Count(string s)
    {
        var text = Text;
        var n = 0;
        for (var i = text.IndexOf(s, StringComparison.Ordinal); i >= 0; i = text.IndexOf(s, i + s.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    public async Task<int> WaitExitAsync(string phase, TimeSpan budget)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(budget);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"phase {phase}: rbee did not exit within {budget.TotalSeconds} s; the terminal shows:\n{Text}");
        }
        await _reader;
        return _process.ExitCode;
    }

    private async Task ReadAsync()
    {
        var buffer = new char[4096];
        int n;
        while ((n = await _process.StandardOutput.ReadAsync(buffer)) > 0)
        {
            lock (_lock)
            {
                _text.Append(buffer, 0, n);
                var text = _text.ToString();
                foreach (var w in _waiters.Where(w => w.Match(text)).ToList())
                {
                    _waiters.Remove(w);
                    w.Done.TrySetResult();
                }
            }
        }
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
