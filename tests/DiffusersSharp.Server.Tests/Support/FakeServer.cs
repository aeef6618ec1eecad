using DiffusersSharp.Serving;
using Microsoft.Extensions.DependencyInjection;

namespace DiffusersSharp.Server.Tests.Support;

/// <summary>Starts the real HTTP stack over a <see cref="FakeJobService"/> that validates with the serving library's validator.</summary>
internal static class FakeServer
{
    public static Task<RunningServer> StartAsync(FakeJobService jobs, IReadOnlyDictionary<string, string?>? settings = null) =>
        RunningServer.StartAsync(settings, builder =>
        {
            builder.Services.AddKeyedSingleton<IJobService>(DiffusersServer.JobBackend, (services, _) =>
            {
                var options = services.GetRequiredService<ServerOptions>();
                var served = services.GetRequiredService<ServedModels>();
                jobs.Validator = new GenerationRequestValidator(services.GetRequiredService<ModelCatalog>(),
                    new ServingOptions { ModelsDirectory = served.Folder, DefaultModel = served.DefaultModel, Limits = options.Limits });
                return jobs;
            });
            builder.Services.AddSingleton<IModelLoader, FakeModelLoader>();
        });
}
