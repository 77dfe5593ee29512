using System.Globalization;
using System.Runtime.InteropServices;

namespace Rbee.Hive.Workers;

/// <summary>
/// The unprivileged user a root hive runs its workers as (<c>Workers:User</c>, DESIGN.md "Security"): a worker reads a
/// model file that came over the network and runs an engine on it, so it never gets the hive's root. The cgroup
/// placement stays the hive's job: the shim enters the cgroup as root, then drops to this user before the worker runs.
/// </summary>
public sealed partial record WorkerUser(uint Uid, uint Gid, string Name)
{
    /// <summary>The default for a root hive: the traditional <c>nobody</c>, which owns no files.</summary>
    public const uint Nobody = 65534;

    public override string ToString() => $"{Name} (uid {Uid}, gid {Gid})";

    /// <summary>
    /// Whom workers run as, from <c>Workers:User</c> (empty, a user name, a uid or <c>uid:gid</c>). Null: as the hive's
    /// own user, which is what a hive not running as root always does, and a root hive only when configured so
    /// (<c>root</c> or <c>0</c>). <paramref name="error"/> says what is wrong with the value.
    /// </summary>
    public static WorkerUser? Resolve(string? configured, out string? error) => Resolve(configured, geteuid(), out error);

    internal static WorkerUser? Resolve(string? configured, uint euid, out string? error)
    {
        error = null;
        WorkerUser? wanted;
        if (string.IsNullOrWhiteSpace(configured))
        {
            if (euid != 0) return null;
            wanted = new WorkerUser(Nobody, Nobody, NameOf(Nobody) ?? "nobody");
        }
        else if (Parse(configured.Trim(), out var why) is { } parsed) wanted = parsed;
        else
        {
            error = $"Workers:User '{configured}': {why}";
            return null;
        }
        if (wanted.Uid == euid) return null;
        if (euid != 0)
        {
            error = $"Workers:User '{configured}' asks for {wanted}, but only a hive running as root can start workers as another user (this one runs as uid {euid})";
            return null;
        }
        return wanted;
    }

    private static WorkerUser? Parse(string value, out string? why)
    {
        why = null;
        var colon = value.IndexOf(':', StringComparison.Ordinal);
        var userPart = colon < 0 ? value : value[..colon];
        if (uint.TryParse(userPart, NumberStyles.None, CultureInfo.InvariantCulture, out var uid))
        {
            uint gid;
            if (colon >= 0)
            {
                if (!uint.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out gid))
                {
                    why = "the group after ':' must be a number";
                    return null;
                }
            }
            else gid = GroupOf(uid) ?? uid;
            return new WorkerUser(uid, gid, NameOf(uid) ?? $"uid {uid}");
        }
        if (colon >= 0)
        {
            why = "use a user name, a uid or uid:gid";
            return null;
        }
        if (Lookup(value) is { } found) return found;
        why = "no such user on this machine; create it (useradd --system --no-create-home rbee-worker) or give a uid";
        return null;
    }

    private static unsafe WorkerUser? Lookup(string name)
    {
        var entry = getpwnam(name);
        return entry is null ? null : new WorkerUser(entry->Uid, entry->Gid, name);
    }

    private static unsafe string? NameOf(uint uid)
    {
        var entry = getpwuid(uid);
        return entry is null ? null : Marshal.PtrToStringUTF8(entry->Name);
    }

    private static unsafe uint? GroupOf(uint uid)
    {
        var entry = getpwuid(uid);
        return entry is null ? null : entry->Gid;
    }

    // struct passwd begins with char* pw_name, char* pw_passwd, uid_t pw_uid, gid_t pw_gid on every Linux ABI.
    [StructLayout(LayoutKind.Sequential)]
    private struct Passwd
    {
        public IntPtr Name;
        public IntPtr Password;
        public uint Uid;
        public uint Gid;
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial Passwd* getpwnam(string name);

    [LibraryImport("libc")]
    private static unsafe partial Passwd* getpwuid(uint uid);

    [LibraryImport("libc")]
    internal static partial uint geteuid();
}
