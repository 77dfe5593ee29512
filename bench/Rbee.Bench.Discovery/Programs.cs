using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Rbee.Bench.Discovery;

/// <summary>Finds the built programs of this repository and starts them with a log file each.</summary>
internal static partial class Programs
{
    public static string Root { get; } = FindRoot();

    public static string Executable(string program, string configuration)
    {
        var project = program switch
        {
            "queen-rbee" => "Rbee.Queen",
            "rbee-hive" => "Rbee.Hive",
            "rbee" => "Rbee.Keeper",
            _ => throw new ArgumentException(program),
        };
        var path = Path.Combine(Root, "src", project, "bin", configuration, "net10.0", program);
        if (!File.Exists(path)) throw new FileNotFoundException($"{program} is not built; run: dotnet build -c {configuration}", path);
        return path;
    }

    /// <summary>The program in this machine's release folder (scripts/publish.sh), or null when it was not published.</summary>
    public static string? Release(string program)
    {
        var rid = RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "linux-arm64" : "linux-x64";
        var path = Path.Combine(Root, "artifacts", "release", rid, program);
        return File.Exists(path) ? path : null;
    }

    public static Process Start(string exe, IEnumerable<string> args, IReadOnlyDictionary<string, string> env, string logPath)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$0\" \"$@\" >\"$BENCH_LOG\" 2>&1 </dev/null");
        psi.ArgumentList.Add(exe);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("RBEE_", StringComparison.Ordinal)).ToList()) psi.Environment.Remove(key);
        psi.Environment["BENCH_LOG"] = logPath;
        foreach (var (k, v) in env) psi.Environment[k] = v;
        return Process.Start(psi)!;
    }

    public static void Signal(int pid, int signal) => Kill(pid, signal);

    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int sig);

    public static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "rbee.slnx"))) return dir.FullName;
        throw new InvalidOperationException("rbee.slnx not found");
    }
}

/// <summary>CPU time and RSS of a process from /proc (the figures an operator's top shows).</summary>
internal static class ProcStat
{
    private static readonly long TicksPerSecond = 100; // USER_HZ on Linux

    /// <summary>utime + stime of <paramref name="pid"/>, in seconds.</summary>
    public static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // After "pid (comm) ": state is field 0, utime field 11, stime field 12.
        return (long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture)) / (double)TicksPerSecond;
    }

    public static long RssBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        return 0;
    }
}
