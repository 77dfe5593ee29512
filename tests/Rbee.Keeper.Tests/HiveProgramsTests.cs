using Rbee.Keeper.Connection;
using Rbee.Keeper.Hives;

namespace Rbee.Keeper.Tests;

/// <summary>Where <c>rbee hive install --host</c> takes the programs, and that they fit the machine's architecture.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class HiveProgramsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("rbee-programs-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void ElfArchitecture_ReadsTheMachineField_AndIsNullForAnythingElse()
    {
        Assert.Equal("x64", HivePrograms.ElfArchitecture(Elf("a", 0x3E)));
        Assert.Equal("arm64", HivePrograms.ElfArchitecture(Elf("b", 0xB7)));
        Assert.Equal("machine-0x28", HivePrograms.ElfArchitecture(Elf("c", 0x28)));
        var script = Path.Combine(_dir.FullName, "script");
        File.WriteAllText(script, "#!/bin/sh\necho hi\n");
        Assert.Null(HivePrograms.ElfArchitecture(script));
        File.WriteAllText(script, "");
        Assert.Null(HivePrograms.ElfArchitecture(script));
    }

    [Fact]
    public void ASingleFileRelease_IsItsTwoProgramsAndBuild_AFrameworkDependentBuild_IsItsWholeFolder()
    {
        Elf("rbee-hive", 0x3E);
        Elf("llm-worker-rbee", 0x3E);
        File.WriteAllText(Path.Combine(_dir.FullName, HivePrograms.BuildFile), "rbee-hive\tNative AOT\n");
        File.WriteAllText(Path.Combine(_dir.FullName, "unrelated.txt"), "");
        var release = HivePrograms.InFolder(_dir.FullName, "test")!;
        Assert.Equal(["BUILD", "llm-worker-rbee", "rbee-hive"], release.Files.Select(f => f.Name));

        File.WriteAllText(Path.Combine(_dir.FullName, "rbee-hive.dll"), "");
        var build = HivePrograms.InFolder(_dir.FullName, "test")!;
        Assert.Contains(build.Files, f => f.Name == "rbee-hive.dll");
        Assert.Contains(build.Files, f => f.Name == "unrelated.txt");

        File.Delete(Path.Combine(_dir.FullName, "llm-worker-rbee"));
        Assert.Null(HivePrograms.InFolder(_dir.FullName, "test"));
    }

    [Fact]
    public async Task ProgramsOfAnotherArchitecture_AreRefusedWithWhatToDo()
    {
        Elf("rbee-hive", 0xB7);
        Elf("llm-worker-rbee", 0xB7);
        var e = await Assert.ThrowsAsync<CliFailure>(() => HivePrograms.FindAsync("linux-x64", _dir.FullName, _ => { }, CancellationToken.None));
        Assert.Contains("is built for linux-arm64, the machine is linux-x64; build for it (scripts/publish.sh --rid linux-x64)", e.Message, StringComparison.Ordinal);
        Assert.NotNull(await HivePrograms.FindAsync("linux-arm64", _dir.FullName, _ => { }, CancellationToken.None));

        var missing = await Assert.ThrowsAsync<CliFailure>(() => HivePrograms.FindAsync("linux-x64", Path.Combine(_dir.FullName, "nope"), _ => { }, CancellationToken.None));
        Assert.Contains("no rbee-hive and llm-worker-rbee there", missing.Message, StringComparison.Ordinal);
    }

    /// <summary>An executable file that starts with an ELF header naming <paramref name="machine"/>.</summary>
    private string Elf(string name, ushort machine)
    {
        var header = new byte[64];
        header[0] = 0x7F; header[1] = (byte)'E'; header[2] = (byte)'L'; header[3] = (byte)'F';
        header[18] = (byte)machine; header[19] = (byte)(machine >> 8);
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllBytes(path, header);
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        return path;
    }
}
