using System.Diagnostics;
using System.Text;

namespace Rbee.Platform.Remote;

/// <summary>What one ssh run gave back.</summary>
public sealed record SshResult(int ExitCode, string Stdout, string Stderr)
{
    public bool Ok => ExitCode == 0;
}

/// <summary>ssh failed in a way that has one clear cause and one thing to do about it.</summary>
public sealed class SshException(string message) : Exception(message);

/// <summary>
/// The system's <c>ssh</c>, as the operator would run it (issue 14): <c>~/.ssh/config</c> (or the file given, as
/// <c>-F</c>) with its aliases, <c>Include</c>, <c>ProxyJump</c>, keys and agent, and host key checking as the user
/// configured it, never turned off. <c>BatchMode</c> keeps it from asking for a password no one will type: a host
/// that needs one fails at once with a clear line. Commands run through the remote user's login shell, as
/// <c>ssh host command</c> does. <paramref name="program"/> is <c>ssh</c> but for tests, which run the host's scripts
/// through a stand-in.
/// </summary>
public sealed class Ssh(string? configFile, TimeSpan? timeout = null, string program = "ssh")
{
    /// <summary>The exit code ssh itself uses for its own failures (connection, authentication, host key).</summary>
    public const int SshFailure = 255;

    public string? ConfigFile { get; } = configFile;
    public TimeSpan Timeout { get; } = timeout ?? TimeSpan.FromMinutes(2);

    /// <summary>Runs <paramref name="script"/> on <paramref name="alias"/> under <c>sh</c>, <paramref name="stdin"/> fed
    /// to it. Throws <see cref="SshException"/> when ssh could not reach or log in (exit 255), with the reason in one line.</summary>
    public async Task<SshResult> RunAsync(string alias, string script, byte[]? stdin = null, CancellationToken ct = default)
    {
        using var process = Start(alias, script);
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        try
        {
            if (stdin is not null) await process.StandardInput.BaseStream.WriteAsync(stdin, ct).ConfigureAwait(false);
            process.StandardInput.Close();
        }
        catch (IOException) { } // the remote side exited before reading it all: its exit code says why
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(Timeout);
        try { await process.WaitForExitAsync(bound.Token).ConfigureAwait(false); }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            if (ct.IsCancellationRequested) throw;
            throw new SshException($"ssh {alias}: no answer within {Timeout.TotalSeconds:0} s");
        }
        var result = new SshResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
        if (result.ExitCode == SshFailure) throw new SshException(Explain(alias, result.Stderr, ConfigFile));
        return result;
    }

    /// <summary>
    /// Runs <paramref name="script"/> on <paramref name="alias"/> with no time bound, handing each line of its output to
    /// <paramref name="onLine"/> as it arrives (<c>tail -F</c>), until it exits or <paramref name="ct"/> ends it; its exit code.
    /// </summary>
    public async Task<int> StreamAsync(string alias, string script, Action<string> onLine, CancellationToken ct)
    {
        using var process = Start(alias, script);
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            while (await process.StandardOutput.ReadLineAsync(ct).ConfigureAwait(false) is { } line) onLine(line);
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw;
        }
        if (process.ExitCode == SshFailure) throw new SshException(Explain(alias, await stderr.ConfigureAwait(false), ConfigFile));
        return process.ExitCode;
    }

    private Process Start(string alias, string script)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (ConfigFile is not null) { psi.ArgumentList.Add("-F"); psi.ArgumentList.Add(ConfigFile); }
        foreach (var a in new[] { "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=10", "-T", "--", alias })
            psi.ArgumentList.Add(a);
        // One argument the remote shell parses: sh -c '<script>'.
        psi.ArgumentList.Add("sh -c " + Quote(script));
        var process = new Process { StartInfo = psi };
        try { process.Start(); }
        catch (System.ComponentModel.Win32Exception e)
        {
            process.Dispose();
            throw new SshException($"cannot run ssh ({e.Message}); install openssh-client");
        }
        return process;
    }

    /// <summary>One line for ssh's own failure: what happened and what to do.</summary>
    public static string Explain(string alias, string stderr, string? configFile)
    {
        var config = configFile ?? "~/.ssh/config";
        bool Has(string s) => stderr.Contains(s, StringComparison.OrdinalIgnoreCase);
        if (Has("Could not resolve hostname"))
            return $"ssh {alias}: unknown host; add 'Host {alias}' with its HostName to {config}";
        if (Has("Host key verification failed") || Has("REMOTE HOST IDENTIFICATION HAS CHANGED"))
            return $"ssh {alias}: host key verification failed; check the host's key and its line in known_hosts (host key checking stays on)";
        if (Has("Permission denied"))
            return $"ssh {alias}: authentication failed; check the User and IdentityFile of 'Host {alias}' in {config}, or your ssh agent";
        if (Has("Connection refused"))
            return $"ssh {alias}: connection refused; is sshd running there, on the port {config} names?";
        if (Has("timed out") || Has("No route to host") || Has("Network is unreachable"))
            return $"ssh {alias}: host unreachable; check the network path to it";
        var last = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        return $"ssh {alias} failed: {last ?? "exit 255"}";
    }

    /// <summary>A POSIX shell single-quoted word.</summary>
    public static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>Bytes of a text, for stdin.</summary>
    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}
