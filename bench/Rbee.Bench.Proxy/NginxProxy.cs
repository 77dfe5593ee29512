using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Rbee.Testing;

namespace Rbee.Bench.Proxy;

/// <summary>
/// The baseline proxy: the Debian package's nginx with a configuration of the benchmark's own under the scratch folder
/// (its pid file, error log and temp paths there too, access log off), on a free loopback port, proxying to the same
/// worker the queen routes to over a keep-alive upstream pool. The system's nginx service is never involved.
/// </summary>
internal sealed class NginxProxy : IAsyncDisposable
{
    private readonly Process _master;
    private readonly string _prefix;

    private NginxProxy(Process master, string prefix, string url, IReadOnlyList<int> pids, string version)
    {
        _master = master;
        _prefix = prefix;
        Url = url;
        Pids = pids;
        Version = version;
    }

    public string Url { get; }

    /// <summary>The master and its workers: the processes whose CPU time is nginx's cost.</summary>
    public IReadOnlyList<int> Pids { get; }

    public string Version { get; }

    /// <summary>The nginx binary, or null when it is not installed (run.sh installs it).</summary>
    public static string? Find()
    {
        string[] dirs = ["/usr/sbin", "/usr/local/sbin", .. (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)];
        return dirs.Select(d => Path.Combine(d, "nginx")).FirstOrDefault(File.Exists);
    }

    public static async Task<NginxProxy> StartAsync(string exe, string scratch, string workerUrl, CancellationToken ct)
    {
        var prefix = Path.Combine(scratch, "nginx");
        Directory.CreateDirectory(Path.Combine(prefix, "temp"));
        var port = FreePort.Next();
        var upstream = new Uri(workerUrl);
        var workers = Environment.ProcessorCount; // what "worker_processes auto" picks, written out so we know how many to find
        var config = Path.Combine(prefix, "nginx.conf");
        var errorLog = Path.Combine(prefix, "error.log");
        await File.WriteAllTextAsync(config, Config(prefix, errorLog, port, $"{upstream.Host}:{upstream.Port}", workers), ct);

        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$0\" \"$@\" >>\"$NGINX_OUT\" 2>&1 </dev/null");
        foreach (var a in (string[])[exe, "-p", prefix + "/", "-c", config, "-e", errorLog]) psi.ArgumentList.Add(a);
        psi.Environment["NGINX_OUT"] = errorLog;
        var master = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {exe}");
        try
        {
            var url = $"http://127.0.0.1:{port}";
            await WaitServingAsync(master, port, workers, errorLog, ct);
            return new NginxProxy(master, prefix, url, [master.Id, .. ProcCpu.Children(master.Id)], await VersionAsync(exe, ct));
        }
        catch
        {
            await StopAsync(master, []);
            throw;
        }
    }

    /// <summary>
    /// The proxy setup: HTTP/1.1 with keep-alive to the upstream (<c>Connection ""</c>), no response buffering, so
    /// SSE frames pass as they come; request and keep-alive limits raised so nginx never closes a connection the queen's
    /// Kestrel would keep (nginx's default closes a client or upstream connection after 1000 requests).
    /// </summary>
    private static string Config(string prefix, string errorLog, int port, string upstream, int workers) => string.Create(CultureInfo.InvariantCulture, $$"""
        daemon off;
        master_process on;
        user root;
        worker_processes {{workers}};
        pid {{prefix}}/nginx.pid;
        error_log {{errorLog}} warn;

        events {
            worker_connections 1024;
        }

        http {
            access_log off;
            server_tokens off;
            keepalive_requests 1000000;
            client_body_temp_path {{prefix}}/temp/body;
            proxy_temp_path {{prefix}}/temp/proxy;

            upstream rbee_worker {
                server {{upstream}};
                keepalive 32;
                keepalive_requests 1000000;
            }

            server {
                listen 127.0.0.1:{{port}};
                location / {
                    proxy_pass http://rbee_worker;
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                    proxy_buffering off;
                }
            }
        }

        """);

    private static async Task WaitServingAsync(Process master, int port, int workers, string errorLog, CancellationToken ct)
    {
        var budget = TimeSpan.FromSeconds(10);
        var until = DateTime.UtcNow + budget;
        while (DateTime.UtcNow < until)
        {
            if (master.HasExited) throw new InvalidOperationException($"nginx exited with {master.ExitCode}:\n{Tail(errorLog)}");
            if (ProcCpu.Children(master.Id).Count >= workers)
            {
                try
                {
                    using var probe = new TcpClient();
                    await probe.ConnectAsync("127.0.0.1", port, ct);
                    return;
                }
                catch (SocketException)
                {
                }
            }
            await Task.Delay(50, ct);
        }
        throw new TimeoutException($"nginx not serving on 127.0.0.1:{port} with {workers} workers within {budget.TotalSeconds:0} s:\n{Tail(errorLog)}");
    }

    private static async Task<string> VersionAsync(string exe, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(exe, "-v") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var text = await p.StandardError.ReadToEndAsync(ct) + await p.StandardOutput.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        return text.Trim().Replace("nginx version: ", "", StringComparison.Ordinal);
    }

    public string ErrorLogTail() => Tail(Path.Combine(_prefix, "error.log"));

    private static string Tail(string path)
    {
        try { return string.Join('\n', File.ReadLines(path).TakeLast(15)); }
        catch (IOException e) { return $"(no log: {e.Message})"; }
    }

    public async ValueTask DisposeAsync() => await StopAsync(_master, Pids.Skip(1).ToList());

    /// <summary>SIGTERM is nginx's fast shutdown: the master stops its workers and exits. Anything left is killed by pid.</summary>
    private static async Task StopAsync(Process master, IReadOnlyList<int> workers)
    {
        if (!master.HasExited)
        {
            try { Signals.Send(master.Id, Signals.SIGTERM); } catch (InvalidOperationException) { }
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try { await master.WaitForExitAsync(bound.Token); }
            catch (OperationCanceledException) { }
        }
        foreach (var pid in workers.Prepend(master.HasExited ? 0 : master.Id).Where(p => p > 0 && Signals.IsAlive(p)))
            try { Signals.Send(pid, Signals.SIGKILL); } catch (InvalidOperationException) { }
        if (!master.HasExited) await master.WaitForExitAsync();
        master.Dispose();
    }
}
