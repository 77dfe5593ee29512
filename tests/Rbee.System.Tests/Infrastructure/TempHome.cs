namespace Rbee.SystemTests.Infrastructure;

/// <summary>A folder of the test's own (a HOME for SSH config, token, state and logs; a worker's model and ready
/// file), removed afterwards.</summary>
public sealed class TempHome : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("rbee-sys-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
