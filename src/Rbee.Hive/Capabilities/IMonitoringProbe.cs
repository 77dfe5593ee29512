using System.Runtime.InteropServices;
using Rbee.Contracts.Wire;

namespace Rbee.Hive.Capabilities;

/// <summary>How the hive can watch workers, for <c>monitoring</c> in capabilities. The workers capability may
/// register a refined probe after <c>AddHive</c> (last registration wins).</summary>
public interface IMonitoringProbe
{
    MonitoringInfo Describe();
}

/// <summary>
/// Finds the cgroup v2 mount in <c>/proc/self/mountinfo</c> (DESIGN.md "Workers under the hive": not assumed at
/// <c>/sys/fs/cgroup</c>; here it is <c>/sys/fs/cgroup/unified</c>) and checks that this process may create the
/// hive's tree under it. Otherwise: process groups, with the reason.
/// </summary>
public sealed partial class CgroupV2Probe(HiveOptions options, string mountInfoPath = "/proc/self/mountinfo") : IMonitoringProbe
{
    public MonitoringInfo Describe()
    {
        var text = Devices.ProcFiles.Read(mountInfoPath);
        if (text is null) return new MonitoringInfo(MonitoringInfo.ProcessGroups, Reason: $"{mountInfoPath} is not readable (not Linux?)");
        var mount = FindCgroup2Mount(text);
        if (mount is null) return new MonitoringInfo(MonitoringInfo.ProcessGroups, Reason: "no cgroup2 file system is mounted");
        var root = Path.Combine(mount, options.CgroupRoot);
        // The tree may already exist (a previous run); then that is what must be writable, else its parent.
        var probe = Directory.Exists(root) ? root : mount;
        if (!IsWritable(probe))
            return new MonitoringInfo(MonitoringInfo.ProcessGroups, Reason: $"cgroup v2 at {mount} is not writable by this user");
        return new MonitoringInfo(MonitoringInfo.CgroupV2, Root: root);
    }

    /// <summary>The mount point of the first cgroup2 file system in a mountinfo text, or null.</summary>
    public static string? FindCgroup2Mount(string mountInfo)
    {
        // Fields: id parent major:minor root mount-point options [optional...] - fstype source super-options
        foreach (var line in mountInfo.Split('\n'))
        {
            var f = line.Split(' ');
            var dash = Array.IndexOf(f, "-");
            if (dash < 5 || dash + 1 >= f.Length) continue;
            if (f[dash + 1] == "cgroup2" && !f[5].Split(',').Contains("ro")) return Unescape(f[4]);
        }
        return null;
    }

    // mountinfo escapes space, tab, newline and backslash as octal (\040...).
    private static string Unescape(string s) =>
        s.Contains('\\') ? System.Text.RegularExpressions.Regex.Replace(s, @"\\([0-7]{3})", m => ((char)Convert.ToInt32(m.Groups[1].Value, 8)).ToString()) : s;

    private const int W_OK = 2;
    private const int X_OK = 1;

    [LibraryImport("libc", EntryPoint = "access", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Access(string path, int mode);

    private static bool IsWritable(string path)
    {
        try
        {
            return Access(path, W_OK | X_OK) == 0;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
    }
}
