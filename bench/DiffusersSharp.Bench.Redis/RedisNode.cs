using DiffusersSharp.Serving;
using DiffusersSharp.Serving.Redis;

namespace DiffusersSharp.Bench.Redis;

/// <summary>An API node and one worker in this process, on a key prefix of their own, with the result cache off.</summary>
internal sealed class RedisNode : IAsyncDisposable
{
    private readonly RedisJobStore _store;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _worker;

    private RedisNode(RedisJobStore store, RedisJobService api, RedisWorker worker)
    {
        _store = store;
        Api = api;
        _worker = Task.Run(() => worker.RunAsync(_stop.Token));
    }

    public RedisJobService Api { get; }

    public static async Task<RedisNode> StartAsync(string redis, IJobExecutor executor, Func<GenerationRequest, AcceptedRequest>? validator)
    {
        var options = new RedisServingOptions { Configuration = redis, KeyPrefix = $"bench-{Guid.NewGuid():N}:", CacheBudgetBytes = 0, MaxQueueLength = 100_000 };
        var store = await RedisJobStore.ConnectAsync(options);
        return new RedisNode(store, new RedisJobService(store, validator), new RedisWorker(store, executor));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _worker;
        await Api.DisposeAsync();
        await _store.DisposeAsync();
        _stop.Dispose();
    }
}
