namespace Rbee.SystemTests.Infrastructure;

/// <summary>A HOME of the test's own (SSH config, token, state), removed afterwards.</summary>
public sealed class TempHome : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("rbee-sys-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
