using DiffusersSharp.Schedulers;
using DiffusersSharp.Serving;
using DiffusersSharp.Serving.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace DiffusersSharp.Server;

/// <summary>What can be asked for: the models in the models folder, the schedulers, and loading a model ahead of use.</summary>
internal static class ModelsEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/models", (ModelCatalog catalog, ServedModels served, IModelLoader loader) =>
                Results.Ok(new ModelList(List(catalog, served), loader.Loaded())))
            .WithName("ListModels")
            .WithSummary("The models in the models folder, their pipeline class, which is the default and which are loaded")
            .Produces<ModelList>();

        app.MapGet("/v1/schedulers", () => Results.Ok(new SchedulerList(
                SchedulerAliases.All.Select(a => new SchedulerInfo(a.Name, a.ClassName, a.Description,
                    a.Options.ToDictionary(o => o.Key, o => o.Value.ToJsonString()))).ToList(),
                SchedulerFactory.KnownClassNames.ToList())))
            .WithName("ListSchedulers")
            .WithSummary("Scheduler short names (with the class and options each stands for) and every scheduler class")
            .Produces<SchedulerList>();

        app.MapPost("/v1/models/{name}/load", async (string name, ModelCatalog catalog, IModelLoader loader, CancellationToken cancellationToken) =>
            {
                if (!catalog.Names().Contains(name))
                {
                    // A bad name (a path, "..") is the request's fault and Resolve says why; a good name that is absent is not found.
                    if (name.IndexOfAny(['/', '\\']) >= 0 || name.Contains("..", StringComparison.Ordinal) || Path.IsPathRooted(name))
                        catalog.Resolve(name, "name");
                    return Results.Problem(statusCode: StatusCodes.Status404NotFound, detail: $"Unknown model '{name}'; GET /v1/models lists them.");
                }
                catalog.Resolve(name, "name");
                var started = DateTimeOffset.UtcNow;
                await loader.LoadAsync(name, cancellationToken);
                return Results.Ok(new ModelLoaded(name, (DateTimeOffset.UtcNow - started).TotalSeconds));
            })
            .WithName("LoadModel")
            .WithSummary("Load a model now so that its first request does not wait (admin keys only)")
            .Produces<ModelLoaded>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .RequireAuthorization(DiffusersServer.AdminPolicy);
    }

    /// <summary>The models the service can run (folders it cannot run, e.g. of another pipeline class, are left out).</summary>
    private static List<ModelEntry> List(ModelCatalog catalog, ServedModels served)
    {
        var entries = new List<ModelEntry>();
        foreach (var name in catalog.Names())
        {
            try
            {
                var info = catalog.Resolve(name, "model");
                entries.Add(new ModelEntry(name, info.ClassName, name == served.DefaultModel));
            }
            catch (RequestValidationException)
            {
                // Not a model this service runs.
            }
        }
        return entries;
    }
}
