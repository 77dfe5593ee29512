using Rbee.Hive;
using Rbee.Hive.Jobs;
using Rbee.Hive.Models;
using Rbee.Hive.Workers;
using Rbee.Hosting;
using Rbee.Hosting.Configuration;

// rbee-hive: one per machine (DESIGN.md "The parts"). Options, logging and listening come from the shared
// plumbing; the hive's capabilities, telemetry and discovery from AddHive/MapHive. Other capabilities add their
// registrations beside these two calls.
return await Rbee.Platform.Configuration.DaemonMain.RunAsync(HiveApp.Spec, args, async a =>
{
    var builder = RbeeHost.CreateBuilder(HiveApp.Spec, a);
    builder.AddHive();
    builder.AddHiveModels();
    builder.AddHiveModelDownloads();
    builder.Services.AddHiveWorkers();

    var app = builder.Build();
    app.UseRbeePipeline();
    app.MapHive();
    app.MapHiveModels();
    app.MapHiveJobs();
    app.MapHiveLogs();
    app.MapConfigReport(HiveApp.Spec);
    await app.RunAsync();
});
