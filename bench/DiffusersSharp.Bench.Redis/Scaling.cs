using System.Diagnostics;
using DiffusersSharp.Serving;
using DiffusersSharp.Serving.Redis;

namespace DiffusersSharp.Bench.Redis;

/// <summary>Throughput of N worker processes: all jobs submitted at once to the Redis queue, timed until the last succeeds.</summary>
internal static class Scaling
{
    public static async Task<(double JobsPerSecond, double WallSeconds)> RunAsync(string redis, string models, int workers, int jobs, int steps)
    {
        var options = new RedisServingOptions { Configuration = redis, KeyPrefix = $"bench-{Guid.NewGuid():N}:", CacheBudgetBytes = 0, MaxQueueLength = 100_000 };
        await using var store = await RedisJobStore.ConnectAsync(options);
        await using var api = new RedisJobService(store);
        var processes = Enumerable.Range(0, workers).Select(_ => StartWorker(redis, options.KeyPrefix, models)).ToList();
        try
        {
            while ((await store.GetStatsAsync()).LiveWorkers < workers) await Task.Delay(200);
            // Warm-up: every worker runs a job or two before the clock starts.
            await RunAllAsync(api, workers * 2, steps, seed0: 1_000_000);
            var clock = Stopwatch.StartNew();
            await RunAllAsync(api, jobs, steps, seed0: 0);
            var wall = clock.Elapsed.TotalSeconds;
            return (jobs / wall, wall);
        }
        finally
        {
            foreach (var p in processes)
            {
                p.Kill();
                p.WaitForExit();
                p.Dispose();
            }
        }
    }

    private static async Task RunAllAsync(RedisJobService api, int count, int steps, long seed0)
    {
        var submitted = new List<JobInfo>();
        for (var i = 0; i < count; i++)
            submitted.Add(await api.SubmitAsync(new GenerationRequest { Prompt = $"job {i}", NumInferenceSteps = steps, Width = 64, Height = 64, Seed = seed0 + i }));
        foreach (var job in submitted)
        {
            JobEvent? last = null;
            await foreach (var e in api.WatchAsync(job.Id)) last = e;
            if (last?.Type != "succeeded") throw new InvalidOperationException($"Job {job.Id} ended {last?.Type}: {last?.Job.Error}");
        }
    }

    private static Process StartWorker(string redis, string prefix, string models)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "diffuse.dll"), "worker", "--redis", redis, "--redis-prefix", prefix,
                     "--models", models, "--default-model", "tiny-sd", "--threads", "1", "--cache-mb", "0" })
            start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }
}
