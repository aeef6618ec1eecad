using DiffusersSharp.Serving.Api;
using DiffusersSharp.Serving;
using DiffusersSharp.Serving.Redis;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace DiffusersSharp.Server;

/// <summary>Liveness (the process answers) and readiness (default model loaded, workers running, not draining).</summary>
internal static class HealthEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => Results.Ok(new HealthStatus("alive")))
            .WithName("Health").WithSummary("The process is alive").Produces<HealthStatus>().AllowAnonymous();

        app.MapGet("/readyz", (IJobService jobs, DrainState drain, IServiceProvider services) =>
                drain.Draining ? Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, detail: "The server is shutting down (draining).")
                : services.GetService<RedisJobService>() is { IsReady: false } redis ? Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, detail: redis.NotReadyReason)
                : !jobs.IsReady ? Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, detail: "The server is starting: the default model is not loaded or the workers are not running yet.")
                : Results.Ok(new HealthStatus("ready")))
            .WithName("Ready").WithSummary("Ready for work: default model loaded, workers running, not draining")
            .Produces<HealthStatus>().ProducesProblem(StatusCodes.Status503ServiceUnavailable).AllowAnonymous();
    }
}
