using System.Diagnostics;
using Rbee.Keeper.Connection;
using Rbee.Platform.Processes;

namespace Rbee.Keeper.Hives;

/// <summary>
/// The files <c>rbee hive install --host</c> copies to a machine: <c>rbee-hive</c> and <c>llm-worker-rbee</c> built for
/// that machine's OS and architecture, each with its name in <c>~/.local/lib/rbee/</c>. Looked for, in order:
/// <list type="number">
/// <item><c>--from DIR</c>, a folder holding both (a release folder, or a framework-dependent build with its libraries);</item>
/// <item>the release this <c>rbee</c> belongs to: its own folder when it is <c>artifacts/release/&lt;rid&gt;</c> (it has
/// a <c>BUILD</c> file), or the folder of the target's rid beside it;</item>
/// <item>in an rbee checkout, <c>artifacts/release/&lt;rid&gt;/</c>, brought up to date by <c>scripts/publish.sh</c> first
/// (it rebuilds a program only when a source of it is newer), so what is installed is what the sources make.</item>
/// </list>
/// Every program's ELF header must name the target's architecture: an x64 hive never lands on an arm64 machine.
/// </summary>
public sealed record HivePrograms(string Source, IReadOnlyList<(string Name, string Path)> Files)
{
    public static readonly string[] Names = ["rbee-hive", "llm-worker-rbee"];

    /// <summary>The release description file scripts/publish.sh writes beside the programs (copied along, read by status).</summary>
    public const string BuildFile = "BUILD";

    public static async Task<HivePrograms> FindAsync(string rid, string? from, Action<string> say, CancellationToken ct)
    {
        HivePrograms? found;
        if (from is not null)
        {
            found = InFolder(Path.GetFullPath(from), "--from")
                ?? throw new CliFailure($"--from {from}: no {string.Join(" and ", Names)} there; give a folder holding both (e.g. artifacts/release/{rid} after scripts/publish.sh --rid {rid})");
        }
        else
        {
            found = FromOwnRelease(rid) ?? await FromCheckoutAsync(rid, say, ct).ConfigureAwait(false)
                ?? throw new CliFailure($"no rbee-hive and llm-worker-rbee for {rid} here: give --from DIR (a folder holding both), " +
                    $"or run scripts/publish.sh --rid {rid} in an rbee checkout and install with the rbee it builds");
        }
        foreach (var name in Names)
        {
            var path = found.Files.Single(f => f.Name == name).Path;
            var arch = ElfArchitecture(path);
            if (arch is not null && "linux-" + arch != rid)
                throw new CliFailure($"{path} is built for linux-{arch}, the machine is {rid}; build for it (scripts/publish.sh --rid {rid}) or give --from with {rid} programs");
        }
        return found;
    }

    /// <summary>The folder's programs: a single-file program alone (with BUILD), a framework-dependent one with its whole folder.</summary>
    internal static HivePrograms? InFolder(string dir, string source)
    {
        if (!Names.All(n => ExecutableSearch.IsExecutable(Path.Combine(dir, n)))) return null;
        var frameworkDependent = Names.Any(n => File.Exists(Path.Combine(dir, n + ".dll")));
        IEnumerable<string> files = frameworkDependent
            ? Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            : [.. Names.Select(n => Path.Combine(dir, n)), .. File.Exists(Path.Combine(dir, BuildFile)) ? [Path.Combine(dir, BuildFile)] : Array.Empty<string>()];
        return new HivePrograms($"{dir} ({source})",
            [.. files.Select(f => (Path.GetRelativePath(dir, f), f)).OrderBy(f => f.Item1, StringComparer.Ordinal)]);
    }

    private static HivePrograms? FromOwnRelease(string rid)
    {
        var own = Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory);
        if (!File.Exists(Path.Combine(own, BuildFile))) return null;
        return InFolder(Path.Combine(Path.GetDirectoryName(own)!, rid), "the release this rbee belongs to");
    }

    private static async Task<HivePrograms?> FromCheckoutAsync(string rid, Action<string> say, CancellationToken ct)
    {
        if (CheckoutRoot() is not { } root) return null;
        var release = Path.Combine(root, "artifacts", "release", rid);
        // publish.sh leaves what is up to date alone (a second), so what is installed is what the sources make now.
        say(Names.All(n => File.Exists(Path.Combine(release, n)))
            ? $"checking the release programs for {rid} with scripts/publish.sh"
            : $"building the release programs for {rid} with scripts/publish.sh (Native AOT: minutes the first time)");
        await PublishAsync(root, rid, say, ct).ConfigureAwait(false);
        return InFolder(release, "built by scripts/publish.sh");
    }

    /// <summary>The rbee checkout this rbee was built in (the folder with rbee.slnx and scripts/publish.sh above it), or null.</summary>
    internal static string? CheckoutRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "rbee.slnx")) && File.Exists(Path.Combine(dir.FullName, "scripts", "publish.sh")))
                return dir.FullName;
        return null;
    }

    private static async Task PublishAsync(string root, string rid, Action<string> say, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(Path.Combine(root, "scripts", "publish.sh"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = root,
        };
        foreach (var a in new[] { "--rid", rid, "--programs", string.Join(',', Names) }) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new CliFailure("could not run scripts/publish.sh");
        var lastLines = new Queue<string>();
        void Keep(string? line)
        {
            if (line is null) return;
            lock (lastLines) { lastLines.Enqueue(line); if (lastLines.Count > 5) lastLines.Dequeue(); }
        }
        process.OutputDataReceived += (_, e) => { if (e.Data is { Length: > 0 } l) { Keep(l); say("  " + l); } };
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try { await process.WaitForExitAsync(ct).ConfigureAwait(false); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        if (process.ExitCode != 0)
            throw new CliFailure($"scripts/publish.sh --rid {rid} failed (exit {process.ExitCode}): {string.Join(" | ", lastLines)}; fix that, or give --from DIR");
    }

    /// <summary>x64 or arm64 from an ELF file's e_machine, or null when the file is not ELF (a script: nothing to check).</summary>
    internal static string? ElfArchitecture(string path)
    {
        Span<byte> header = stackalloc byte[20];
        using (var f = File.OpenRead(path))
            if (f.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length) return null;
        if (header[0] != 0x7F || header[1] != (byte)'E' || header[2] != (byte)'L' || header[3] != (byte)'F') return null;
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(header[18..]) switch
        {
            0x3E => "x64",
            0xB7 => "arm64",
            var m => $"machine-0x{m:x}",
        };
    }
}
