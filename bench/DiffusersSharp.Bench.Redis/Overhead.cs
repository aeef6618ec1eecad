using System.Diagnostics;
using DiffusersSharp.Serving;
using DiffusersSharp.Serving.Redis;
using TorchSharp;

namespace DiffusersSharp.Bench.Redis;

/// <summary>
/// Latency of jobs run one after another, submit to pictures (<c>GenerateAsync</c>), through the single-process queue
/// and through Redis with the worker in the same process. Jobs alternate between the two, so a machine whose load
/// changes during the run affects both alike, and the overhead is the median of the paired differences.
/// </summary>
internal static class Overhead
{
    public static async Task<Latency> NoOpAsync(string redis, int jobs)
    {
        await using var node = await RedisNode.StartAsync(redis, new NoOpExecutor(), validator: null);
        var times = new List<double>();
        for (var i = -10; i < jobs; i++)
        {
            var ms = await TimeAsync(node.Api, i);
            if (i >= 0) times.Add(ms);
        }
        return new Latency(times);
    }

    public static async Task<(Latency Local, Latency Redis, double PairedMedian)> PairedAsync(string redis, string models, int jobs)
    {
        torch.set_num_threads(1);
        var serving = new ServingOptions { ModelsDirectory = models, DefaultModel = "tiny-sd", WorkerCount = 1, MaxBatchSize = 1, ResultCacheBytes = 0 };
        await using var local = new LocalJobService(serving);
        await local.StartAsync();
        using var manager = new PipelineManager(serving);
        await manager.PreloadAsync("tiny-sd");
        // Validated as the single-process service validates, so both sides do the same work.
        await using var node = await RedisNode.StartAsync(redis, new PipelineJobExecutor(manager), AcceptedRequest.From(manager.Validator));
        var (l, r) = (new List<double>(), new List<double>());
        for (var i = -10; i < jobs; i++)
        {
            var a = await TimeAsync(local, i);
            var b = await TimeAsync(node.Api, i);
            if (i < 0) continue;
            l.Add(a);
            r.Add(b);
        }
        return (new Latency(l), new Latency(r), new Latency(r.Zip(l, (x, y) => x - y).ToArray()).P50);
    }

    private static async Task<double> TimeAsync(IJobService service, int i)
    {
        var request = new GenerationRequest { Prompt = $"job {i}", NumInferenceSteps = 1, Width = 64, Height = 64, Seed = 10_000 + i };
        var clock = Stopwatch.StartNew();
        var result = await service.GenerateAsync(request);
        var ms = clock.Elapsed.TotalMilliseconds;
        if (result.Job.State != JobState.Succeeded) throw new InvalidOperationException($"Job ended {result.Job.State}: {result.Job.Error}");
        return ms;
    }
}
