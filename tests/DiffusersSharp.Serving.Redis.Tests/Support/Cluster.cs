namespace DiffusersSharp.Serving.Redis.Tests.Support;

/// <summary>API nodes and in-process workers on one Redis, each with its own connection as separate processes would have.</summary>
public sealed class Cluster : IAsyncDisposable
{
    private readonly List<RedisJobStore> _stores = [];
    private readonly List<RedisJobService> _services = [];
    private readonly List<(RedisWorker Worker, Task Run)> _workers = [];
    private readonly CancellationTokenSource _stop = new();

    public Cluster(RedisServingOptions options) => Options = options;

    public RedisServingOptions Options { get; }

    public IReadOnlyList<RedisWorker> Workers => _workers.Select(w => w.Worker).ToArray();

    public async Task<RedisJobStore> ConnectAsync()
    {
        var store = await RedisJobStore.ConnectAsync(Options);
        _stores.Add(store);
        return store;
    }

    public async Task<RedisJobService> ApiNodeAsync()
    {
        var service = new RedisJobService(await ConnectAsync());
        _services.Add(service);
        return service;
    }

    public async Task<RedisWorker> WorkerAsync(IJobExecutor executor)
    {
        var worker = new RedisWorker(await ConnectAsync(), executor);
        _workers.Add((worker, Task.Run(() => worker.RunAsync(_stop.Token))));
        return worker;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_workers.Select(w => w.Run));
        foreach (var service in _services) await service.DisposeAsync();
        foreach (var store in _stores) await store.DisposeAsync();
        _stop.Dispose();
    }
}
