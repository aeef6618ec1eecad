using System.Diagnostics;
using DiffusersSharp.Serving;
using DiffusersSharp.Serving.Redis;
using TorchSharp;

namespace DiffusersSharp.Bench.Redis;

/// <summary>
/// Latency of jobs run one after another, submit to pictures (<c>GenerateAsync</c>), through the single-process queue
/// and through Redis with the worker in the same process. Jobs alternate between the two, so a machine whose load
/// changes during the run affects both alike, and the overhead is the median of the paired differences. Each job's
/// latency is also split into its own run (the pipeline call: the worker's executor through Redis, the job's started
/// to finished time in the single-process queue) and the rest, so a slower run and a slower queue tell apart.
/// </summary>
internal static class Overhead
{
    public static async Task<Latency> NoOpAsync(string redis, int jobs)
    {
        await using var node = await RedisNode.StartAsync(redis, new NoOpExecutor(), validator: null);
        var times = new List<double>();
        for (var i = -10; i < jobs; i++)
        {
            var (ms, _) = await TimeAsync(node.Api, i);
            if (i >= 0) times.Add(ms);
        }
        return new Latency(times);
    }

    public static async Task<Paired> PairedAsync(string redis, string models, int jobs)
    {
        torch.set_num_threads(1);
        var serving = new ServingOptions { ModelsDirectory = models, DefaultModel = "tiny-sd", WorkerCount = 1, MaxBatchSize = 1, ResultCacheBytes = 0 };
        await using var local = new LocalJobService(serving);
        await local.StartAsync();
        using var manager = new PipelineManager(serving);
        await manager.PreloadAsync("tiny-sd");
        // Validated as the single-process service validates, so both sides do the same work.
        var executor = new TimedExecutor(new PipelineJobExecutor(manager));
        await using var node = await RedisNode.StartAsync(redis, executor, AcceptedRequest.From(manager.Validator));
        var (l, r, lRun, rRun) = (new List<double>(), new List<double>(), new List<double>(), new List<double>());
        for (var i = -10; i < jobs; i++)
        {
            var (a, job) = await TimeAsync(local, i);
            var (b, _) = await TimeAsync(node.Api, i);
            var remoteRun = executor.TakeOnly();
            if (i < 0) continue;
            l.Add(a);
            r.Add(b);
            lRun.Add((job.FinishedAt!.Value - job.StartedAt!.Value).TotalMilliseconds);
            rRun.Add(remoteRun);
        }
        return new Paired(new Latency(l), new Latency(r), new Latency(lRun), new Latency(rRun));
    }

    private static async Task<(double Ms, JobInfo Job)> TimeAsync(IJobService service, int i)
    {
        var request = new GenerationRequest { Prompt = $"job {i}", NumInferenceSteps = 1, Width = 64, Height = 64, Seed = 10_000 + i };
        var clock = Stopwatch.StartNew();
        var result = await service.GenerateAsync(request);
        var ms = clock.Elapsed.TotalMilliseconds;
        if (result.Job.State != JobState.Succeeded) throw new InvalidOperationException($"Job ended {result.Job.State}: {result.Job.Error}");
        return (ms, result.Job);
    }
}

/// <summary>Paired per-job latencies (submit to pictures) and each job's own run, single-process and through Redis.</summary>
internal sealed record Paired(Latency Local, Latency Redis, Latency LocalRun, Latency RedisRun)
{
    /// <summary>Median of the per-job differences, Redis minus single-process.</summary>
    public double Difference => MedianDifference(Redis, Local);

    /// <summary>Median of the per-job differences of the time outside the job's own run.</summary>
    public double OutsideDifference => MedianDifference(RedisOutside, LocalOutside);

    public Latency LocalOutside => new(Outside(Local, LocalRun));

    public Latency RedisOutside => new(Outside(Redis, RedisRun));

    private static double[] Outside(Latency total, Latency run) => total.Milliseconds.Zip(run.Milliseconds, (t, r) => t - r).ToArray();

    private static double MedianDifference(Latency a, Latency b) => new Latency(a.Milliseconds.Zip(b.Milliseconds, (x, y) => x - y).ToArray()).P50;
}
