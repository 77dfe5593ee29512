using System.Globalization;

namespace Rbee.Hive.Monitoring;

/// <summary>A worker's place in the hive's tree: <c>&lt;root&gt;/&lt;worker_type&gt;/&lt;port&gt;</c>.</summary>
public readonly record struct WorkerCgroupName(string WorkerType, int Port)
{
    public string Key => $"{WorkerType}/{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Type and port from a path relative to the root ("llm/8080"); null for anything else.</summary>
    public static WorkerCgroupName? Parse(string relative)
    {
        var parts = relative.Trim('/').Split('/');
        return parts.Length != 2 ? null : Parse(parts[0], parts[1]);
    }

    /// <summary>Type and port from the two directory names ("llm", "8080"); null for anything else.</summary>
    public static WorkerCgroupName? Parse(string workerType, string port)
    {
        if (!IsTypeName(workerType)) return null;
        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p is < 1 or > 65535) return null;
        if (port.Length != DigitCount(p)) return null; // "08080" is not ours
        return new WorkerCgroupName(workerType, p);
    }

    private static int DigitCount(int n) => n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : 5;

    /// <summary>Worker type names are cgroup directory names: lower-case letters, digits, '-' and '_'.</summary>
    public static bool IsTypeName(string s)
    {
        if (s.Length is 0 or > 64) return false;
        foreach (var c in s)
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_')) return false;
        return true;
    }
}

/// <summary>
/// The hive's cgroup v2 subtree (DESIGN.md "Workers under the hive", Spawn and Monitor): created under the v2 mount
/// (or under the hive's own delegated cgroup when the mount's top is not writable), one child per worker.
/// </summary>
public sealed class CgroupTree
{
    private CgroupTree(string rootPath) => RootPath = rootPath;

    /// <summary>Absolute path of <c>&lt;root&gt;</c>, e.g. <c>/sys/fs/cgroup/rbee.slice</c>.</summary>
    public string RootPath { get; }

    /// <summary>Creates (or finds) the root under the v2 mount; null plus a reason when there is no writable cgroup v2.</summary>
    public static CgroupTree? Open(string rootName, out string? reason)
    {
        reason = null;
        var mount = Cgroup2Mount.Find();
        if (mount is null)
        {
            reason = "no writable cgroup2 mount in /proc/self/mountinfo";
            return null;
        }
        var candidates = new List<string> { Path.Combine(mount, rootName) };
        // A hive running as a systemd user service may only write the subtree delegated to it.
        if (ProcFiles.TryRead("/proc/self/cgroup") is { } self && Cgroup2Mount.OwnCgroup(self) is { Length: > 1 } own)
            candidates.Add(Path.Combine(mount, own.TrimStart('/'), rootName));
        var errors = new List<string>();
        foreach (var path in candidates)
        {
            try
            {
                Directory.CreateDirectory(path);
                if (!File.Exists(Path.Combine(path, "cgroup.procs"))) { errors.Add($"{path} is not a cgroup"); continue; }
                // Prove we can move a process: a cgroup we may create but not enter is no use.
                var probe = Path.Combine(path, ".probe-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
                Directory.CreateDirectory(probe);
                var writable = IsWritable(Path.Combine(probe, "cgroup.procs"));
                Directory.Delete(probe);
                if (!writable) { errors.Add($"{path}/*/cgroup.procs is not writable"); continue; }
                var tree = new CgroupTree(path);
                tree.EnableControllers(path);
                return tree;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                errors.Add($"{path}: {e.Message}");
            }
        }
        reason = "cgroup v2 not writable: " + string.Join("; ", errors);
        return null;
    }

    private static bool IsWritable(string file)
    {
        try
        {
            using var _ = new FileStream(file, FileMode.Open, FileAccess.Write);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public string PathOf(WorkerCgroupName name) => Path.Combine(RootPath, name.WorkerType, name.Port.ToString(CultureInfo.InvariantCulture));

    /// <summary>Every <c>&lt;root&gt;/*/*</c> worker cgroup that exists now.</summary>
    public List<WorkerCgroupName> Enumerate()
    {
        var list = new List<WorkerCgroupName>();
        try
        {
            // Names straight from the two directory levels: no relative path built and split again for every worker.
            foreach (var typeDir in Directory.EnumerateDirectories(RootPath))
            {
                var type = Path.GetFileName(typeDir);
                if (!WorkerCgroupName.IsTypeName(type)) continue;
                foreach (var portDir in Directory.EnumerateDirectories(typeDir))
                    if (WorkerCgroupName.Parse(type, Path.GetFileName(portDir)) is { } n) list.Add(n);
            }
        }
        catch (DirectoryNotFoundException) { }
        return list;
    }

    /// <summary>Creates the worker's cgroup, with optional limits where the controllers exist. An empty leftover is reused.</summary>
    public string Create(WorkerCgroupName name, string? cpuMax, string? memoryMax)
    {
        var typeDir = Path.Combine(RootPath, name.WorkerType);
        Directory.CreateDirectory(typeDir);
        EnableControllers(typeDir);
        var path = PathOf(name);
        if (Directory.Exists(path) && Pids(path).Count > 0)
            throw new IOException($"cgroup {path} already holds processes");
        Directory.CreateDirectory(path);
        if (cpuMax is not null) TryWrite(Path.Combine(path, "cpu.max"), cpuMax);
        if (memoryMax is not null) TryWrite(Path.Combine(path, "memory.max"), memoryMax);
        return path;
    }

    /// <summary>Hands the controllers the parent offers on to the children, where allowed (none on a hybrid v1/v2 host).</summary>
    private void EnableControllers(string dir)
    {
        var available = ProcFiles.TryRead(Path.Combine(dir, "cgroup.controllers"))?.Split(' ', '\n', StringSplitOptions.RemoveEmptyEntries) ?? [];
        foreach (var c in available.Intersect(["cpu", "memory", "io", "pids"]))
            TryWrite(Path.Combine(dir, "cgroup.subtree_control"), "+" + c);
    }

    public static List<int> Pids(string cgroupPath) =>
        KernelFile.TryRead(Path.Combine(cgroupPath, "cgroup.procs"), out var s) ? ProcFiles.Pids(s) : [];

    /// <summary>True while any process is in the cgroup or below; false when it is empty or gone.</summary>
    public static bool IsPopulated(string cgroupPath) =>
        ProcFiles.TryRead(Path.Combine(cgroupPath, "cgroup.events")) is { } s && ProcFiles.Populated(s) == true;

    /// <summary>SIGKILLs every process in the cgroup at once (<c>cgroup.kill</c>, kernel 5.14+), else one by one.</summary>
    public static void Kill(string cgroupPath)
    {
        if (TryWrite(Path.Combine(cgroupPath, "cgroup.kill"), "1")) return;
        foreach (var pid in Pids(cgroupPath)) Libc.Signal(pid, Libc.SIGKILL);
    }

    /// <summary>Removes an empty worker cgroup; false when it still holds processes (or is already gone).</summary>
    public static bool TryRemove(string cgroupPath)
    {
        try
        {
            Directory.Delete(cgroupPath);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>All pids anywhere under the root (for the "no process left" check at shutdown).</summary>
    public List<int> AllPids()
    {
        var list = new List<int>();
        try
        {
            foreach (var dir in Directory.EnumerateDirectories(RootPath, "*", SearchOption.AllDirectories).Append(RootPath))
                list.AddRange(Pids(dir));
        }
        catch (DirectoryNotFoundException) { }
        return list;
    }

    /// <summary>Removes empty type directories (and the root when nothing is left in it).</summary>
    public void Prune(bool includeRoot)
    {
        try
        {
            foreach (var typeDir in Directory.EnumerateDirectories(RootPath))
                if (!Directory.EnumerateDirectories(typeDir).Any()) TryRemove(typeDir);
        }
        catch (DirectoryNotFoundException) { }
        if (includeRoot) TryRemove(RootPath);
    }

    private static bool TryWrite(string file, string value)
    {
        try
        {
            File.WriteAllText(file, value);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
