using System.Diagnostics;
using DiffusersSharp.Serving;
using DiffusersSharp.Serving.Redis;
using TorchSharp;

namespace DiffusersSharp.Bench.Redis;

/// <summary>Latency of jobs run one after another, submit to pictures, through the single-process queue or Redis (worker in the same process).</summary>
internal static class Overhead
{
    public sealed record Latency(IReadOnlyList<double> Milliseconds)
    {
        public double P50 => Percentile(0.5);
        public double P90 => Percentile(0.9);

        private double Percentile(double p)
        {
            var sorted = Milliseconds.Order().ToArray();
            return sorted[(int)Math.Min(sorted.Length - 1, Math.Round(p * (sorted.Length - 1)))];
        }
    }

    public static Latency Merge(IEnumerable<Latency> parts) => new(parts.SelectMany(p => p.Milliseconds).ToArray());

    public static async Task<Latency> LocalAsync(string models, int jobs)
    {
        torch.set_num_threads(1);
        await using var service = new LocalJobService(Serving(models) with { ResultCacheBytes = 0 });
        await service.StartAsync();
        return await MeasureAsync(service, jobs, steps: 1);
    }

    /// <param name="executor">The worker's executor; the tiny model through a pipeline manager when null.</param>
    public static async Task<Latency> RedisAsync(string redis, string models, int jobs, IJobExecutor? executor, int steps)
    {
        torch.set_num_threads(1);
        var options = new RedisServingOptions { Configuration = redis, KeyPrefix = $"bench-{Guid.NewGuid():N}:", CacheBudgetBytes = 0 };
        await using var store = await RedisJobStore.ConnectAsync(options);
        using var manager = executor is null ? new PipelineManager(Serving(models)) : null;
        if (manager is not null) await manager.PreloadAsync("tiny-sd");
        // Validated as the single-process service validates, so both sides do the same work.
        await using var api = new RedisJobService(store, manager is null ? null : AcceptedRequest.From(manager.Validator));
        var worker = new RedisWorker(store, executor ?? new PipelineJobExecutor(manager!));
        using var stop = new CancellationTokenSource();
        var running = Task.Run(() => worker.RunAsync(stop.Token));
        try
        {
            return await MeasureAsync(api, jobs, steps);
        }
        finally
        {
            await stop.CancelAsync();
            await running;
        }
    }

    private static ServingOptions Serving(string models) => new() { ModelsDirectory = models, DefaultModel = "tiny-sd", WorkerCount = 1, MaxBatchSize = 1 };

    private static async Task<Latency> MeasureAsync(IJobService service, int jobs, int steps)
    {
        var times = new List<double>();
        for (var i = -10; i < jobs; i++)
        {
            var request = new GenerationRequest { Prompt = $"job {i}", NumInferenceSteps = steps, Width = 64, Height = 64, Seed = 10_000 + i };
            var clock = Stopwatch.StartNew();
            var result = await service.GenerateAsync(request);
            var ms = clock.Elapsed.TotalMilliseconds;
            if (result.Job.State != JobState.Succeeded) throw new InvalidOperationException($"Job ended {result.Job.State}: {result.Job.Error}");
            if (i >= 0) times.Add(ms);
        }
        return new Latency(times);
    }
}
