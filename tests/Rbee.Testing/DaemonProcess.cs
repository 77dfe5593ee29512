using System.Diagnostics;
using System.Text;

namespace Rbee.Testing;

/// <summary>
/// A real rbee program started by a test: its own process, stdout+stderr in a log file, killed (hard) on dispose.
/// The one harness every system test uses (STYLE.md §9).
/// </summary>
public sealed class DaemonProcess : IAsyncDisposable
{
    private readonly Process _process;
    public string Name { get; }
    public string LogPath { get; }
    public int Pid { get; }

    private DaemonProcess(string name, Process process, string logPath)
    {
        Name = name;
        _process = process;
        LogPath = logPath;
        Pid = process.Id;
    }

    /// <summary>Starts <paramref name="program"/> (a name such as <c>rbee-hive</c>) with arguments and environment (a null
    /// value unsets the variable).</summary>
    /// <param name="launcher">A command that execs the program in its own process (<c>prlimit --nofile=1024:1024</c>), so
    /// <see cref="Pid"/> is still the program's.</param>
    public static DaemonProcess Start(
        string program,
        IEnumerable<string> args,
        IDictionary<string, string?>? environment = null,
        string? logDirectory = null,
        IReadOnlyList<string>? launcher = null)
    {
        var exe = RepoPaths.Executable(program);
        logDirectory ??= Path.Combine(Path.GetTempPath(), "rbee-tests");
        Directory.CreateDirectory(logDirectory);
        var logPath = Path.Combine(logDirectory, $"{program}-{Guid.NewGuid():N}.log");
        var psi = new ProcessStartInfo(launcher is { Count: > 0 } ? launcher[0] : exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        if (launcher is { Count: > 0 })
        {
            foreach (var a in launcher.Skip(1)) psi.ArgumentList.Add(a);
            psi.ArgumentList.Add(exe);
        }
        foreach (var a in args) psi.ArgumentList.Add(a);
        // A clean environment for the daemon: no stray RBEE_ settings from the developer's shell.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("RBEE_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(key);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment[TestWorkerUser.Variable] = TestWorkerUser.Value;
        // A null value removes the variable (one the developer's shell may set that the test must not inherit).
        if (environment is not null)
            foreach (var (k, v) in environment)
                if (v is null) psi.Environment.Remove(k);
                else psi.Environment[k] = v;

        var log = new StreamWriter(logPath, append: false, Encoding.UTF8) { AutoFlush = true };
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var gate = new object();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (gate) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (gate) log.WriteLine(e.Data); };
        process.Exited += (_, _) => { lock (gate) log.Flush(); };
        if (!process.Start()) throw new InvalidOperationException($"could not start {exe}");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new DaemonProcess(program, process, logPath);
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public void Signal(int signal) => Signals.Send(Pid, signal);

    public void Kill() { if (!_process.HasExited) _process.Kill(entireProcessTree: false); }

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The last lines of the log, for failure messages.</summary>
    public string LogTail(int lines = 30)
    {
        try
        {
            using var fs = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var sr = new StreamReader(fs);
            var all = sr.ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines));
        }
        catch (IOException e)
        {
            return $"(log unreadable: {e.Message})";
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                try { Signals.Send(Pid, Signals.SIGCONT); } catch (InvalidOperationException) { }
                _process.Kill(entireProcessTree: false);
                await WaitForExitAsync(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        _process.Dispose();
    }
}
