using System.Globalization;

namespace Rbee.Testing;

/// <summary>One worker type of the tests' catalog: the real <c>rbee-test-worker</c> with extra flags of its own.</summary>
/// <param name="ExtraArguments">After the launch contract's, e.g. <c>--never-ready</c> or <c>--busy</c>.</param>
/// <param name="Readiness"><c>ready_file</c> or <c>health</c> (the hive's <c>ReadinessRules</c>).</param>
/// <param name="DeviceKinds">Null leaves the hive's default for a type it does not know (cpu and cuda).</param>
public sealed record TestWorkerType(string Name, int BasePort, IReadOnlyList<string> ExtraArguments, TimeSpan LoadTimeout,
    string Readiness = "ready_file", int PortCount = 20, IReadOnlyList<string>? DeviceKinds = null);

/// <summary>
/// The worker catalog every test hive uses (in-process <c>TestHive</c>, the real program in <c>HiveNode</c>, the workers
/// benchmark): the test worker's program, the launch contract's argument template and the model it loads, written once
/// as the hive's configuration keys (section <c>Workers</c>) and, from the same keys, as its environment variables.
/// </summary>
public static class TestWorkerCatalog
{
    public static string WorkerPath { get; } =
        Path.Combine(RepoPaths.Root, "tests", "Rbee.TestWorker", "bin", RepoPaths.Configuration, "net10.0", "rbee-test-worker");

    /// <summary>The model the spawn tests load.</summary>
    public static string Model { get; } = RepoPaths.Model("aidreams260K.gguf");

    /// <summary>DESIGN.md "Workers under the hive", launch contract, as a catalog template.</summary>
    public static IReadOnlyList<string> LaunchArguments { get; } =
        ["--model", "{model}", "--model-id", "{model_id}", "--port", "{port}", "--host", "{host}", "--worker-id", "{worker_id}", "--ready-file", "{ready_file}"];

    /// <summary>Configuration keys and values (<c>Workers:Types:test:BasePort</c> → <c>60100</c>) for <paramref name="types"/>.</summary>
    public static Dictionary<string, string> Settings(IEnumerable<TestWorkerType> types)
    {
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var t in types)
        {
            var prefix = $"Workers:Types:{t.Name}:";
            settings[prefix + "Executable"] = WorkerPath;
            settings[prefix + "BasePort"] = t.BasePort.ToString(CultureInfo.InvariantCulture);
            settings[prefix + "PortCount"] = t.PortCount.ToString(CultureInfo.InvariantCulture);
            settings[prefix + "Readiness"] = t.Readiness;
            settings[prefix + "LoadTimeout"] = t.LoadTimeout.ToString("c", CultureInfo.InvariantCulture);
            for (var i = 0; i < (t.DeviceKinds?.Count ?? 0); i++) settings[prefix + "DeviceKinds:" + i.ToString(CultureInfo.InvariantCulture)] = t.DeviceKinds![i];
            string[] args = [.. LaunchArguments, .. t.ExtraArguments];
            for (var i = 0; i < args.Length; i++) settings[prefix + "Arguments:" + i.ToString(CultureInfo.InvariantCulture)] = args[i];
        }
        return settings;
    }

    /// <summary>The same settings as a daemon's environment (<c>RBEE_Workers__Types__test__BasePort</c>).</summary>
    public static Dictionary<string, string?> Environment(IEnumerable<TestWorkerType> types) =>
        AsEnvironment(Settings(types));

    /// <summary>Configuration keys as the daemons' <c>RBEE_</c> environment variables.</summary>
    public static Dictionary<string, string?> AsEnvironment(IReadOnlyDictionary<string, string> settings) =>
        settings.ToDictionary(kv => "RBEE_" + kv.Key.Replace(":", "__", StringComparison.Ordinal), kv => (string?)kv.Value, StringComparer.Ordinal);
}
