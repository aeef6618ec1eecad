using DiffusersSharp.Serving.Redis;
using Microsoft.Extensions.Hosting;
using Prometheus;

namespace DiffusersSharp.Server;

/// <summary>
/// The cluster's figures as Redis sees them, read before each scrape from the job service's last poll (every second):
/// queue depth, jobs taken by workers, live workers, claims of abandoned jobs and worker heartbeats (cluster-wide totals).
/// A hosted service only so that it is registered when the node starts.
/// </summary>
public sealed class RedisMetrics : IHostedService
{
    public RedisMetrics(ServerMetrics metrics, RedisJobService jobs)
    {
        var factory = Metrics.WithCustomRegistry(metrics.Registry);
        var up = factory.CreateGauge("diffuse_redis_up", "1 while this node's connection to Redis is up.");
        var waiting = factory.CreateGauge("diffuse_redis_queue_depth", "Jobs waiting in the cluster's Redis queue (not yet taken by a worker).");
        var running = factory.CreateGauge("diffuse_redis_jobs_running", "Jobs taken by a worker and not yet acknowledged, cluster-wide.");
        var workers = factory.CreateGauge("diffuse_redis_live_workers", "Workers whose heartbeat is recent.");
        var claims = factory.CreateCounter("diffuse_redis_claims_total", "Jobs abandoned by a stopped worker and taken over by another, cluster-wide.");
        var heartbeats = factory.CreateCounter("diffuse_redis_worker_heartbeats_total", "Worker heartbeats, cluster-wide.");
        var cacheBytes = factory.CreateGauge("diffuse_redis_result_cache_bytes", "Bytes in the cluster's shared result cache.");
        metrics.Registry.AddBeforeCollectCallback(() =>
        {
            up.Set(jobs.Store.IsConnected ? 1 : 0);
            if (jobs.Stats is not { } stats) return;
            waiting.Set(stats.Waiting);
            running.Set(stats.Running);
            workers.Set(stats.LiveWorkers);
            claims.IncTo(stats.Claims);
            heartbeats.IncTo(stats.Heartbeats);
            cacheBytes.Set(stats.CacheBytes);
        });
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
