using DiffusersSharp.Serving;
using DiffusersSharp.Serving.Redis;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DiffusersSharp.Server;

/// <summary>
/// Makes the service a node of a Redis cluster when <c>Diffuse:Redis:Configuration</c> is set (<c>diffuse serve --redis</c>):
/// its job service is the cluster's (<see cref="RedisJobService"/>) instead of the local queue and store, and it runs
/// <see cref="ServerOptions.Workers"/> cluster workers itself (0: an API-only node). <see cref="ServerOptions.Queue"/>
/// is the cluster-wide queue limit.
/// </summary>
public static class RedisCluster
{
    public const string Section = ServerOptions.Section + ":Redis";

    /// <summary>The cluster settings from configuration, or null when no Redis is configured.</summary>
    public static RedisServingOptions? Options(IConfiguration configuration, ServerOptions options)
    {
        var redis = configuration.GetSection(Section).Get<RedisServingOptions>();
        return string.IsNullOrWhiteSpace(redis?.Configuration) ? null : redis with { MaxQueueLength = options.Queue };
    }

    public static void AddIfConfigured(WebApplicationBuilder builder, ServerOptions options, ServedModels served)
    {
        if (Options(builder.Configuration, options) is not { } redis) return;
        var services = builder.Services;
        services.AddSingleton(redis);
        services.AddSingleton(_ => RedisJobStore.ConnectAsync(redis).GetAwaiter().GetResult());
        services.AddSingleton(sp => new RedisJobService(sp.GetRequiredService<RedisJobStore>(),
            AcceptedRequest.From(new GenerationRequestValidator(sp.GetRequiredService<ModelCatalog>(), Serving(sp)))));
        services.AddKeyedSingleton<IJobService>(DiffusersServer.JobBackend, (sp, _) => sp.GetRequiredService<RedisJobService>());
        services.AddHostedService<RedisMetrics>();
        if (options.Workers == 0)
        {
            services.AddSingleton<IModelLoader>(new ClusterModelLoader(null));
            return;
        }
        services.AddSingleton(sp => new PipelineManager(Serving(sp), sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton<IModelLoader>(sp => new ClusterModelLoader(sp.GetRequiredService<PipelineManager>()));
        services.AddHostedService(sp => new RedisWorkerHost(sp.GetRequiredService<RedisJobStore>(),
            new PipelineJobExecutor(sp.GetRequiredService<PipelineManager>()), options.Workers, sp.GetRequiredService<ILogger<RedisWorkerHost>>()));

        ServingOptions Serving(IServiceProvider sp) => DiffusersServer.ToServingOptions(options, served, sp.GetRequiredService<ServerMetrics>());
    }
}
