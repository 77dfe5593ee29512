using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hive.Identity;
using Rbee.Hive.Monitoring;
using Rbee.Hosting.Security;
using Rbee.Platform.Configuration;

namespace Rbee.Hive.Models;

public static class ModelsHostingExtensions
{
    /// <summary>
    /// The model catalog: options (section <c>Models</c>, validated at start-up: exit 2 with one line naming the setting),
    /// the catalog on the hive's models directory and inotify instance, started with the host, and the seam telemetry
    /// reads its version through. Call after <c>AddHive</c>.
    /// </summary>
    public static ModelsOptions AddHiveModels(this WebApplicationBuilder builder)
    {
        var options = OptionsBinding.Bind<ModelsOptions>(builder.Configuration, ModelsOptions.SectionName, static (c, o) => c.Bind(o), o => o.Validate());
        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(sp => new HiveModelCatalog(
            sp.GetRequiredService<HiveOptions>().ResolvedModelsDir,
            options,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<HiveModelCatalog>>(),
            sp.GetRequiredService<Inotify>()));
        services.AddSingleton<IModelCatalogView>(sp => sp.GetRequiredService<HiveModelCatalog>());
        services.AddHostedService(sp => sp.GetRequiredService<HiveModelCatalog>());
        return options;
    }

    /// <summary><c>GET /v1/catalog</c>: every model this hive can serve, with the version frames carry (DESIGN.md "Security":
    /// a control endpoint, so it needs the cluster token).</summary>
    public static WebApplication MapHiveModels(this WebApplication app)
    {
        app.MapGet(HivePaths.Catalog, (HiveIdentity identity, HiveModelCatalog catalog) =>
        {
            var snapshot = catalog.Snapshot;
            return Results.Json(new ModelCatalog(identity.HiveId, identity.InstanceId, snapshot.Version, snapshot.Models),
                RbeeJsonContext.Default.ModelCatalog);
        }).RequireClusterToken();
        return app;
    }
}
