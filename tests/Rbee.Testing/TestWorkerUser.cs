namespace Rbee.Testing;

/// <summary>
/// Tests keep models, state and programs in temporary directories that only their own user can enter (0700), and the
/// checkout may lie under <c>/root</c>: a root hive's default of running workers as uid 65534 could reach none of them.
/// So test hives run workers as the hive's own user, explicitly (<c>Workers:User=root</c>), and the scenario that proves
/// the default (<c>WorkerUserScenarios</c>) lays out its files where an unprivileged user can read them.
/// </summary>
public static class TestWorkerUser
{
    public const string Value = "root";

    /// <summary>The setting as a daemon's environment variable.</summary>
    public const string Variable = "RBEE_Workers__User";
}
