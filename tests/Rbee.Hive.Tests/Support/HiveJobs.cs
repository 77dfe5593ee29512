using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Hive.Identity;
using Rbee.Hive.Jobs;
using Rbee.Hive.Models;
using Rbee.Hive.Tests.Workers;
using Rbee.Hive.Workers;
using Rbee.Models.Downloads;

namespace Rbee.Hive.Tests.Support;

/// <summary>The hive's job operations over a test hive's parts and a catalog, wired as the hive wires them.</summary>
public static class HiveJobs
{
    public static HiveJobOperations Operations(TestHive hive, HiveModelCatalog catalog, ModelDownloaderOptions? downloads = null, SpawnAdmission? admission = null)
    {
        var downloader = new ModelDownloader(ModelDownloader.CreateHttpClient("rbee-hive-tests"), downloads ?? new ModelDownloaderOptions(), TimeProvider.System);
        var modelDownloads = new ModelDownloads(downloader, catalog, new HiveIdentity("test-hive", "http://127.0.0.1:1"),
            new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance), NullLogger<ModelDownloads>.Instance);
        var models = new ModelJobOperations(catalog, modelDownloads, hive.Monitor, NullLogger<ModelJobOperations>.Instance);
        return new HiveJobOperations(hive.Catalog, hive.Monitor, hive.Supervisor, hive.Ports, Microsoft.Extensions.Options.Options.Create(hive.Options), catalog, models,
            admission ?? new SpawnAdmission(hive.Options, () => File.ReadAllText("/proc/meminfo"), _ => Task.FromResult<IReadOnlyList<Rbee.Hive.Devices.NvidiaGpu>?>(null)),
            new HiveMetrics(hive.Monitor), TimeProvider.System);
    }
}
