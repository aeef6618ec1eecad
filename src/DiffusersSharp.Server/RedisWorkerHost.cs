using DiffusersSharp.Serving.Redis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DiffusersSharp.Server;

/// <summary>Runs a node's own cluster workers (<c>serve --redis ... --workers N</c>); stopping hands their running jobs back to the queue.</summary>
public sealed class RedisWorkerHost(RedisJobStore store, IJobExecutor executor, int count, ILogger<RedisWorkerHost> logger) : BackgroundService
{
    public IReadOnlyList<RedisWorker> Workers { get; } = Enumerable.Range(0, count).Select(_ => new RedisWorker(store, executor, logger: logger)).ToArray();

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        logger.LogInformation("{Count} cluster worker(s) taking jobs from Redis", Workers.Count);
        return Task.WhenAll(Workers.Select(w => Task.Run(() => w.RunAsync(stoppingToken), CancellationToken.None)));
    }
}
