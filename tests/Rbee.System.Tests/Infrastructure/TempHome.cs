using Rbee.Testing;

namespace Rbee.SystemTests.Infrastructure;

/// <summary>A folder of the test's own (a HOME for SSH config, token, state and logs; a worker's model and ready
/// file), removed afterwards. It holds the run's cluster token file (<see cref="TestClusterToken"/>) unless the test
/// is about a HOME without one.</summary>
public sealed class TempHome : IDisposable
{
    public TempHome(bool clusterToken = true)
    {
        if (clusterToken) TestClusterToken.WriteInto(Path);
    }

    public string Path { get; } = Directory.CreateTempSubdirectory("rbee-sys-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
