using System.Diagnostics;
using System.Globalization;
using Rbee.Testing;

namespace Rbee.SystemTests.Infrastructure.MultiHost;

/// <summary>One machine of the bed: its network namespace and address, its SSH alias, its unprivileged user and home.</summary>
public sealed record TestHost(string Alias, string Namespace, string Address, string User, string Home, string SideLink);

/// <summary>
/// Several hosts on this machine (issue 14's multi-host test bed): a network namespace for the queen and one per hive
/// host, joined by a bridge in the queen's namespace (addresses 10.214.0.0/24, only inside these namespaces), each hive
/// host running a real <c>sshd</c> with per-run host keys and an unprivileged user whose home is in the bed's folder. The
/// operator's SSH config, key and known_hosts are written for the aliases (<c>StrictHostKeyChecking yes</c>). Disposing
/// it kills every process in its namespaces, deletes them and the users, even after a failed test.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class TestBed : IAsyncDisposable
{
    public const string Subnet = "10.214.0";
    private readonly string _suffix = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(2));
    private readonly List<string> _namespaces = [];
    private readonly List<string> _users = [];
    private readonly List<TestHost> _hosts = [];
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("rbee-bed-");

    private TestBed() { }

    public string QueenNamespace => $"rbq{_suffix}";
    public string QueenAddress => $"{Subnet}.1";
    public string QueenUrl => $"http://{QueenAddress}:7833";
    public IReadOnlyList<TestHost> Hosts => _hosts;

    /// <summary>The operator's home (SSH config, key, known_hosts; the queen's state), readable by nobody else.</summary>
    public string OperatorHome => Path.Combine(_root.FullName, "operator");
    public string SshConfig => Path.Combine(OperatorHome, ".ssh", "config");

    /// <summary>A bed with <paramref name="hosts"/> hive hosts named hive-a, hive-b…; skips the test where namespaces, veth
    /// pairs or sshd are not available (not root, a container without them).</summary>
    public static async Task<TestBed> CreateAsync(int hosts)
    {
        Skip.IfNot(Environment.IsPrivilegedProcess, "the multi-host test bed needs root (network namespaces, users, sshd)");
        Skip.IfNot(File.Exists("/usr/sbin/sshd"), "the multi-host test bed needs sshd (scripts/install-test-deps.sh installs openssh-server)");
        // The hosts get the release programs (rbee hive install runs publish.sh, which is quick once they are current).
        await ReleaseArtefacts.EnsureAsync();
        var bed = new TestBed();
        try
        {
            await bed.BuildAsync(hosts);
            return bed;
        }
        catch
        {
            await bed.DisposeAsync();
            throw;
        }
    }

    private async Task BuildAsync(int count)
    {
        File.SetUnixFileMode(_root.FullName, (UnixFileMode)0b111_101_101); // the hosts' users must reach their homes
        var q = QueenNamespace;
        var added = await RunAsync("ip", ["netns", "add", q], check: false);
        Skip.If(added.ExitCode != 0, $"ip netns add refused ({added.Stderr.Trim()}): network namespaces are not permitted here");
        _namespaces.Add(q);
        var bridge = $"rbb{_suffix}";
        await RunAsync("ip", ["-n", q, "link", "set", "lo", "up"]);
        await RunAsync("ip", ["-n", q, "link", "add", bridge, "type", "bridge"]);
        await RunAsync("ip", ["-n", q, "addr", "add", $"{QueenAddress}/24", "dev", bridge]);
        await RunAsync("ip", ["-n", q, "link", "set", bridge, "up"]);

        Directory.CreateDirectory(Path.Combine(OperatorHome, ".ssh"));
        var key = Path.Combine(OperatorHome, ".ssh", "id_ed25519");
        await RunAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
        var knownHosts = Path.Combine(OperatorHome, ".ssh", "known_hosts");
        var config = new System.Text.StringBuilder();
        for (var i = 0; i < count; i++)
        {
            var host = await AddHostAsync(i, bridge, key + ".pub");
            var hostKey = (await File.ReadAllTextAsync(Path.Combine(_root.FullName, host.Alias, "hostkey.pub"))).Split(' ');
            await File.AppendAllTextAsync(knownHosts, $"{host.Address} {hostKey[0]} {hostKey[1]}\n");
            config.Append(CultureInfo.InvariantCulture, $"Host {host.Alias}\n  HostName {host.Address}\n  User {host.User}\n  IdentityFile {key}\n  UserKnownHostsFile {knownHosts}\n  StrictHostKeyChecking yes\n");
        }
        await File.WriteAllTextAsync(SshConfig, config.ToString());
        foreach (var h in _hosts)
        {
            var probe = await InQueenAsync(["ssh", "-F", SshConfig, "-o", "BatchMode=yes", h.Alias, "true"], check: false);
            if (probe.ExitCode != 0) throw new InvalidOperationException($"the bed's own ssh to {h.Alias} fails (harness problem): {probe}");
        }
    }

    private async Task<TestHost> AddHostAsync(int i, string bridge, string operatorKey)
    {
        var alias = $"hive-{(char)('a' + i)}";
        var ns = $"rbh{_suffix}{i}";
        var address = $"{Subnet}.{10 + i}";
        var user = $"rbt{_suffix}{i}";
        var side = $"rbv{_suffix}{i}";
        var dir = Directory.CreateDirectory(Path.Combine(_root.FullName, alias)).FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        var home = Path.Combine(dir, "home");

        await RunAsync("ip", ["netns", "add", ns]);
        _namespaces.Add(ns);
        await RunAsync("ip", ["link", "add", side, "netns", QueenNamespace, "type", "veth", "peer", "name", $"rbe{_suffix}{i}", "netns", ns]);
        await RunAsync("ip", ["-n", QueenNamespace, "link", "set", side, "master", bridge, "up"]);
        await RunAsync("ip", ["-n", ns, "addr", "add", $"{address}/24", "dev", $"rbe{_suffix}{i}"]);
        await RunAsync("ip", ["-n", ns, "link", "set", $"rbe{_suffix}{i}", "up"]);
        await RunAsync("ip", ["-n", ns, "link", "set", "lo", "up"]);

        await RunAsync("useradd", ["-M", "-d", home, "-s", "/bin/bash", user]);
        _users.Add(user);
        await RunAsync("usermod", ["-p", "*", user]); // no password, but not locked: key login works
        Directory.CreateDirectory(Path.Combine(home, ".ssh"));
        File.Copy(operatorKey, Path.Combine(home, ".ssh", "authorized_keys"));
        await RunAsync("chown", ["-R", user, home]);
        File.SetUnixFileMode(Path.Combine(home, ".ssh"), (UnixFileMode)0b111_000_000);

        var hostKey = Path.Combine(dir, "hostkey");
        await RunAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
        var sshdConfig = Path.Combine(dir, "sshd_config");
        await File.WriteAllTextAsync(sshdConfig,
            $"Port 22\nListenAddress {address}\nHostKey {hostKey}\nPidFile {dir}/sshd.pid\nUsePAM no\nStrictModes no\nPasswordAuthentication no\nAllowUsers {user}\n");
        Directory.CreateDirectory("/run/sshd");
        await RunAsync("ip", ["netns", "exec", ns, "/usr/sbin/sshd", "-f", sshdConfig, "-E", Path.Combine(dir, "sshd.log")]);
        var host = new TestHost(alias, ns, address, user, home, side);
        _hosts.Add(host);
        return host;
    }

    public TestHost Host(string alias) => _hosts.Single(h => h.Alias == alias);

    /// <summary>The real queen-rbee in the queen's namespace, on its address, with the bed's SSH config.</summary>
    public DaemonProcess StartQueen(string token) =>
        DaemonProcess.Start("queen-rbee",
            ["--bind", QueenAddress, "--advertise-url", QueenUrl, "--settle-delay", "0", "--ssh-config", SshConfig],
            new Dictionary<string, string?> { ["HOME"] = OperatorHome, ["RBEE_CLUSTER_TOKEN"] = token },
            Path.Combine(_root.FullName, "logs"), launcher: ["ip", "netns", "exec", QueenNamespace]);

    /// <summary>The operator's <c>rbee</c> in the queen's namespace, with the built rbee-hive and llm-worker-rbee on PATH.</summary>
    public Task<CliRun.Result> RbeeAsync(string token, params string[] args) =>
        CliRun.RunProgramAsync("ip", ["netns", "exec", QueenNamespace, RepoPaths.Executable("rbee"), "--queen-url", QueenUrl, .. args],
            new Dictionary<string, string?>
            {
                ["HOME"] = OperatorHome,
                ["RBEE_CLUSTER_TOKEN"] = token,
                ["RBEE_SSH_CONFIG"] = SshConfig,
                ["PATH"] = $"{RepoPaths.ExecutableDirectory("rbee-hive")}:{RepoPaths.ExecutableDirectory("llm-worker-rbee")}:{Environment.GetEnvironmentVariable("PATH")}",
            }, TimeSpan.FromMinutes(2));

    /// <summary>An HTTP client whose connections start in the queen's namespace: a client on the queen's network (the official
    /// OpenAI client takes it as its transport). Dispose it.</summary>
    public HttpClient QueenHttpClient() => NetworkNamespace.HttpClient(QueenNamespace);

    /// <summary>Cuts the host off the bed's network: its side of the link in the queen's namespace goes down. A blackhole,
    /// not a reset: packets in either direction vanish, no connection is told.</summary>
    public Task LinkDownAsync(TestHost host) => RunAsync("ip", ["-n", QueenNamespace, "link", "set", host.SideLink, "down"]);

    /// <summary>Puts the host back on the bed's network (undoes <see cref="LinkDownAsync"/>).</summary>
    public Task LinkUpAsync(TestHost host) => RunAsync("ip", ["-n", QueenNamespace, "link", "set", host.SideLink, "up"]);

    /// <summary>Copies a model file into the hive user's models directory (<c>~/.cache/rbee/models/ID.gguf</c>), owned by
    /// that user, as a download that finished would be; returns its path.</summary>
    public async Task<string> PutModelAsync(TestHost host, string source, string id)
    {
        var cache = Path.Combine(host.Home, ".cache");
        var dir = Directory.CreateDirectory(Path.Combine(cache, "rbee", "models")).FullName;
        var target = Path.Combine(dir, id + ".gguf");
        File.Copy(source, target + ".tmp", overwrite: true);
        File.Move(target + ".tmp", target, overwrite: true);
        await RunAsync("chown", ["-R", host.User, cache]);
        return target;
    }

    /// <summary>The operator's <c>rbee hive install --host</c> (supervised by <paramref name="supervisor"/>) and
    /// <c>rbee hive start --host</c> of <paramref name="host"/>; throws with their output when either fails.</summary>
    public async Task InstallAndStartHiveAsync(string token, TestHost host, string supervisor = "queen")
    {
        var install = await RbeeAsync(token, "hive", "install", "--host", host.Alias, "--supervisor", supervisor);
        if (install.ExitCode != 0) throw new InvalidOperationException($"rbee hive install --host {host.Alias}: {install}");
        var start = await RbeeAsync(token, "hive", "start", "--host", host.Alias);
        if (start.ExitCode != 0) throw new InvalidOperationException($"rbee hive start --host {host.Alias}: {start}");
    }

    /// <summary>A command in the queen's namespace (e.g. curl to the queen, which listens only there).</summary>
    public Task<CliRun.Result> InQueenAsync(IEnumerable<string> command, bool check = true) =>
        RunAsync("ip", ["netns", "exec", QueenNamespace, .. command], check);

    /// <summary>A command in a host's namespace.</summary>
    public Task<CliRun.Result> OnHostAsync(TestHost host, IEnumerable<string> command, bool check = true) =>
        RunAsync("ip", ["netns", "exec", host.Namespace, .. command], check);

    /// <summary>The pids of <paramref name="program"/> that the host's user runs: processes whose program is it (pgrep -f
    /// alone would also count a shell whose script names it, such as an ssh session of a start still exiting).</summary>
    public async Task<int[]> PidsAsync(TestHost host, string program)
    {
        var r = await RunAsync("pgrep", ["-u", host.User, "-f", program], check: false);
        return [.. r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture))
            .Where(pid => ProgramOf(pid) == program)];
    }

    private static string? ProgramOf(int pid)
    {
        try { return Path.GetFileName(File.ReadAllText($"/proc/{pid}/cmdline").Split('\0')[0]); }
        catch (IOException) { return null; }
    }

    /// <summary>GET on the queen (with the token) from inside its namespace; null when it does not answer 200.</summary>
    public async Task<string?> QueenGetAsync(string path, string token)
    {
        var r = await InQueenAsync(["curl", "-fsS", "--max-time", "2", "-H", $"Authorization: Bearer {token}", QueenUrl + path], check: false);
        return r.ExitCode == 0 ? r.Stdout : null;
    }

    private static async Task<CliRun.Result> RunAsync(string program, IEnumerable<string> args, bool check = true)
    {
        var r = await CliRun.RunProgramAsync(program, args, new Dictionary<string, string?>(), TimeSpan.FromSeconds(60));
        if (check && r.ExitCode != 0) throw new InvalidOperationException($"{program} {string.Join(' ', args)}: {r}");
        return r;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var ns in Enumerable.Reverse(_namespaces))
        {
            var pids = await RunAsync("ip", ["netns", "pids", ns], check: false);
            foreach (var p in pids.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                if (int.TryParse(p, out var pid)) Signals.Send(pid, Signals.SIGKILL);
        }
        foreach (var user in _users)
        {
            // Processes of the user that left the namespace's pid list (a daemonised hive's workers) go too.
            await RunAsync("pkill", ["-KILL", "-u", user], check: false);
        }
        foreach (var ns in _namespaces) await RunAsync("ip", ["netns", "del", ns], check: false);
        foreach (var user in _users) await RunAsync("userdel", [user], check: false);
        try { _root.Delete(recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
