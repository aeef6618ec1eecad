using DiffusersSharp.Serving.Redis.Tests.Support;
using StackExchange.Redis;

namespace DiffusersSharp.Serving.Redis.Tests;

/// <summary>One API node and two <c>diffuse worker</c> processes on the tiny model.</summary>
[Collection(RedisCollection.Name)]
public sealed class WorkerProcessTests(SharedRedis redis)
{
    private static GenerationRequest Request(string prompt, int steps, long seed) =>
        new() { Prompt = prompt, NumInferenceSteps = steps, Seed = seed, Width = 64, Height = 64 };

    [Fact]
    public async Task JobsSpreadOverTwoWorkersAndAKilledWorkersJobCompletesOnTheOtherWithTheSamePicture()
    {
        var options = redis.Options(o => o with { ClaimIdleTime = TimeSpan.FromSeconds(3), CacheBudgetBytes = 0 });
        await using var cluster = new Cluster(options);
        var api = await cluster.ApiNodeAsync();
        var db = (await cluster.ConnectAsync()).Db;
        using var one = WorkerProcess.Start(options);
        using var two = WorkerProcess.Start(options);
        await Wait.UntilAsync(async () => (await api.Store.GetStatsAsync()).LiveWorkers == 2, TimeSpan.FromSeconds(120),
            "both workers to start");

        var jobs = new List<JobInfo>();
        for (var i = 0; i < 6; i++) jobs.Add(await api.SubmitAsync(Request($"spread {i}", 20, i)));
        foreach (var job in jobs)
        {
            var end = (await Wait.ForEndAsync(api, job.Id, TimeSpan.FromSeconds(120)))[^1];
            Assert.True(end.Type == "succeeded", end.Job.Error);
        }
        var ranOn = new HashSet<int>();
        foreach (var job in jobs) ranOn.Add(await WorkerPidAsync(db, options, job.Id));
        Assert.Equal(new HashSet<int> { one.Id, two.Id }, ranOn);

        // A long job; the worker running it is killed after its first step.
        var doomed = await api.SubmitAsync(Request("a lighthouse at dusk", 150, 42));
        await using (var events = api.WatchAsync(doomed.Id).GetAsyncEnumerator())
        {
            while (await events.MoveNextAsync() && events.Current.Type != "step") { }
        }
        var victimPid = await WorkerPidAsync(db, options, doomed.Id);
        var (victim, survivor) = victimPid == one.Id ? (one, two) : (two, one);
        victim.KillHard();

        var last = (await Wait.ForEndAsync(api, doomed.Id, TimeSpan.FromSeconds(180)))[^1];
        Assert.True(last.Type == "succeeded", $"{last.Job.Error}\n{survivor.Output}");
        Assert.Equal(survivor.Id, await WorkerPidAsync(db, options, doomed.Id));
        Assert.True((await api.Store.GetStatsAsync()).Claims >= 1);
        var reclaimed = await api.GetImageAsync(doomed.Id, 0);

        // The same request run through without interruption gives the same picture.
        var reference = await api.GenerateAsync(Request("a lighthouse at dusk", 150, 42));
        Assert.False(reference.Job.Cached);
        Assert.Equal(reference.Images[0], reclaimed);

        // SIGTERM stops a worker cleanly.
        Assert.Equal(0, survivor.Terminate(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task ServeWithRedisAndNoWorkersIsAnApiNodeForWorkersElsewhere()
    {
        var options = redis.Options(o => o with { CacheBudgetBytes = 0 });
        var port = FreePort();
        using var node = WorkerProcess.Serve(options, port, "--workers", "0");
        using var worker = WorkerProcess.Start(options);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(30) };
        using var client = new DiffusersSharp.Client.DiffusersClient(http);
        await Wait.UntilAsync(async () =>
        {
            try
            {
                return (await http.GetAsync("readyz")).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return !node.HasExited ? false : throw new InvalidOperationException($"diffuse serve exited:\n{node.Output}");
            }
        }, TimeSpan.FromSeconds(120), "diffuse serve to be ready");

        var result = await client.RunAsync(Request("a red door", 3, 9));

        Assert.True(result.Job.State == JobState.Succeeded, $"{result.Job.Error}\n{worker.Output}");
        Assert.Equal((byte)0x89, Assert.Single(result.Images)[0]);
        // The node reads the cluster's figures from Redis once a second, so its metrics may lag the job by up to a poll.
        await Wait.UntilAsync(async () => (await http.GetStringAsync("metrics")).Contains("diffuse_redis_live_workers 1"),
            TimeSpan.FromSeconds(10), "the metrics to count the live worker");
        Assert.Equal(0, node.Terminate(TimeSpan.FromSeconds(60)));
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The pid in the consumer name (<c>host-pid-suffix</c>) of the worker that ran the job last.</summary>
    private static async Task<int> WorkerPidAsync(IDatabase db, RedisServingOptions options, string jobId)
    {
        var worker = (string)(await db.HashGetAsync(options.KeyPrefix + "job:" + jobId, "worker"))!;
        return int.Parse(worker.Split('-')[^2]);
    }
}
