using System.Globalization;
using System.Text;

namespace Rbee.Hive.Monitoring;

/// <summary>Parsers for the kernel files worker monitoring reads. Pure functions over text, so they are unit-tested.</summary>
public static class ProcFiles
{
    /// <summary><c>usage_usec</c> of a cgroup's <c>cpu.stat</c>, or null.</summary>
    public static long? CpuUsageUsec(string cpuStat) => CpuUsageUsec(Encoding.UTF8.GetBytes(cpuStat));

    /// <inheritdoc cref="CpuUsageUsec(string)"/>
    public static long? CpuUsageUsec(ReadOnlySpan<byte> cpuStat) => KeyedLong(cpuStat, "usage_usec"u8);

    /// <summary>Sum of <c>rbytes</c> and <c>wbytes</c> over the devices of a cgroup's <c>io.stat</c>; null when it names none.</summary>
    public static (long Read, long Write)? IoStat(string ioStat) => IoStat(Encoding.UTF8.GetBytes(ioStat));

    /// <inheritdoc cref="IoStat(string)"/>
    public static (long Read, long Write)? IoStat(ReadOnlySpan<byte> ioStat)
    {
        // "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device
        long r = 0, w = 0;
        var any = false;
        foreach (var lineRange in ioStat.Split((byte)'\n'))
        {
            var line = ioStat[lineRange];
            foreach (var kvRange in line.Split((byte)' '))
            {
                var kv = line[kvRange];
                if (kv.StartsWith("rbytes="u8) && long.TryParse(kv[7..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var rb)) { r += rb; any = true; }
                else if (kv.StartsWith("wbytes="u8) && long.TryParse(kv[7..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var wb)) { w += wb; any = true; }
            }
        }
        return any ? (r, w) : null;
    }

    /// <summary><c>read_bytes</c> and <c>write_bytes</c> of <c>/proc/&lt;pid&gt;/io</c>.</summary>
    public static (long Read, long Write)? ProcIo(string procIo) => ProcIo(Encoding.UTF8.GetBytes(procIo));

    /// <inheritdoc cref="ProcIo(string)"/>
    public static (long Read, long Write)? ProcIo(ReadOnlySpan<byte> procIo)
    {
        var r = KeyedLong(procIo, "read_bytes:"u8);
        var w = KeyedLong(procIo, "write_bytes:"u8);
        return r is null || w is null ? null : (r.Value, w.Value);
    }

    /// <summary>VmRSS of <c>/proc/&lt;pid&gt;/status</c> in bytes, or null (kernel threads and zombies have none).</summary>
    public static long? VmRssBytes(string status) => VmRssBytes(Encoding.UTF8.GetBytes(status));

    /// <inheritdoc cref="VmRssBytes(string)"/>
    public static long? VmRssBytes(ReadOnlySpan<byte> status)
    {
        var kb = KeyedLong(status, "VmRSS:"u8);
        return kb * 1024;
    }

    /// <summary>
    /// Resident bytes from <c>/proc/&lt;pid&gt;/statm</c> ("size resident shared ..." in pages): the same counters as
    /// VmRSS of <c>status</c> (anon + file + shmem pages), at a fraction of the kernel's cost of formatting <c>status</c>.
    /// Null where <c>status</c> has no VmRSS: a process without memory (kernel thread, zombie) shows size 0.
    /// </summary>
    public static long? StatmRssBytes(ReadOnlySpan<byte> statm, long pageSize)
    {
        var first = statm.IndexOf((byte)' ');
        if (first < 0 || !long.TryParse(statm[..first], NumberStyles.None, CultureInfo.InvariantCulture, out var size) || size == 0) return null;
        var rest = statm[(first + 1)..];
        var second = rest.IndexOf((byte)' ');
        if (second < 0 || !long.TryParse(rest[..second], NumberStyles.None, CultureInfo.InvariantCulture, out var pages)) return null;
        return pages * pageSize;
    }

    /// <summary><c>populated</c> of a cgroup's <c>cgroup.events</c>.</summary>
    public static bool? Populated(string events) => KeyedLong(Encoding.UTF8.GetBytes(events), "populated"u8) is { } v ? v != 0 : null;

    /// <summary>Pids of <c>cgroup.procs</c>.</summary>
    public static List<int> Pids(string procs) => Pids(Encoding.UTF8.GetBytes(procs));

    /// <inheritdoc cref="Pids(string)"/>
    public static List<int> Pids(ReadOnlySpan<byte> procs)
    {
        var list = new List<int>();
        foreach (var range in procs.Split((byte)'\n'))
            if (int.TryParse(procs[range], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) list.Add(pid);
        return list;
    }

    /// <summary>Parent pid, CPU time (user + system) and start time, in clock ticks, from <c>/proc/&lt;pid&gt;/stat</c>.</summary>
    public static (int Ppid, long CpuTicks, long StartTicks)? Stat(string stat)
    {
        // "pid (comm) state ppid ..." — comm may hold spaces and parentheses, so fields count from the last ')'.
        var close = stat.LastIndexOf(')');
        if (close < 0) return null;
        var rest = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // rest[0] = state (field 3), rest[1] = ppid (field 4), rest[19] = starttime (field 22)
        if (rest.Length < 20) return null;
        if (!int.TryParse(rest[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var ppid)) return null;
        if (!long.TryParse(rest[19], NumberStyles.Integer, CultureInfo.InvariantCulture, out var start)) return null;
        // rest[11] = utime (field 14), rest[12] = stime (field 15)
        if (!long.TryParse(rest[11], NumberStyles.Integer, CultureInfo.InvariantCulture, out var utime)) return null;
        if (!long.TryParse(rest[12], NumberStyles.Integer, CultureInfo.InvariantCulture, out var stime)) return null;
        return (ppid, utime + stime, start);
    }

    /// <summary>Parent pid, process group, CPU time (user + system, clock ticks) and start time from the bytes of
    /// <c>/proc/&lt;pid&gt;/stat</c>, without building strings (the scan reads it for many processes).</summary>
    public static (int Ppid, int Pgrp, long CpuTicks, long StartTicks)? Stat(ReadOnlySpan<byte> stat)
    {
        var close = stat.LastIndexOf((byte)')');
        if (close < 0) return null;
        var rest = stat[(close + 1)..];
        int ppid = 0, pgrp = 0;
        long utime = 0, stime = 0, start = 0;
        var field = 2; // rest starts after field 2 (comm)
        var found = 0;
        foreach (var range in rest.Split((byte)' '))
        {
            var token = rest[range];
            if (token.IsEmpty) continue;
            field++;
            switch (field)
            {
                case 4: found += int.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out ppid) ? 1 : 0; break;
                case 5: found += int.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out pgrp) ? 1 : 0; break;
                case 14: found += long.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out utime) ? 1 : 0; break;
                case 15: found += long.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out stime) ? 1 : 0; break;
                case 22: found += long.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out start) ? 1 : 0; break;
            }
            if (field >= 22) break;
        }
        return found == 5 ? (ppid, pgrp, utime + stime, start) : null;
    }

    /// <summary>CPU time (user + system) in clock ticks from the bytes of <c>/proc/&lt;pid&gt;/stat</c>.</summary>
    public static long? StatCpuTicks(ReadOnlySpan<byte> stat) => Stat(stat)?.CpuTicks;

    /// <summary>The arguments of <c>/proc/&lt;pid&gt;/cmdline</c> (NUL-separated).</summary>
    public static string[] Cmdline(string raw) => raw.Split('\0', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The value after <c>--name</c> (or in <c>--name=value</c>) among <paramref name="args"/>.</summary>
    public static string? Flag(IReadOnlyList<string> args, params string[] names)
    {
        for (var i = 0; i < args.Count; i++)
            foreach (var n in names)
            {
                if (args[i] == n && i + 1 < args.Count) return args[i + 1];
                if (args[i].StartsWith(n + "=", StringComparison.Ordinal)) return args[i][(n.Length + 1)..];
            }
        return null;
    }

    /// <summary>One variable of <c>/proc/&lt;pid&gt;/environ</c>.</summary>
    public static string? Environ(string raw, string name)
    {
        foreach (var kv in raw.Split('\0', StringSplitOptions.RemoveEmptyEntries))
            if (kv.Length > name.Length && kv[name.Length] == '=' && kv.StartsWith(name, StringComparison.Ordinal)) return kv[(name.Length + 1)..];
        return null;
    }

    /// <summary>The first number of <c>/proc/uptime</c>, seconds since boot.</summary>
    public static double? Uptime(string raw) => Uptime(Encoding.UTF8.GetBytes(raw));

    /// <inheritdoc cref="Uptime(string)"/>
    public static double? Uptime(ReadOnlySpan<byte> raw)
    {
        var space = raw.IndexOf((byte)' ');
        return double.TryParse(space < 0 ? raw : raw[..space], NumberStyles.Float, CultureInfo.InvariantCulture, out var s) ? s : null;
    }

    private static long? KeyedLong(ReadOnlySpan<byte> text, ReadOnlySpan<byte> key)
    {
        foreach (var range in text.Split((byte)'\n'))
        {
            var line = text[range];
            if (!line.StartsWith(key)) continue;
            var value = line[key.Length..].Trim(" \t\r\v\f"u8);
            // "usage_usec 123" and "VmRSS:   812 kB": the number is the first token after the key
            if (value.Length == 0 || (!char.IsAsciiDigit((char)value[0]) && key[^1] != (byte)':')) continue;
            var space = value.IndexOf((byte)' ');
            var token = space < 0 ? value : value[..space];
            if (long.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)) return v;
        }
        return null;
    }

    /// <summary>Reads a small kernel file; null when it (or its process) is gone.</summary>
    public static string? TryRead(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
