using System.Net;
using System.Net.Http.Json;
using DiffusersSharp.Serving.Redis.Tests.Support;

namespace DiffusersSharp.Serving.Redis.Tests;

/// <summary>The HTTP service as API nodes of one Redis cluster (<c>serve --redis ... --workers 0</c>), with workers elsewhere.</summary>
[Collection(RedisCollection.Name)]
public sealed class HttpClusterTests(SharedRedis redis)
{
    private static GenerationRequest Request(string prompt, int steps = 2) => new() { Prompt = prompt, NumInferenceSteps = steps, Width = 64, Height = 64 };

    [Fact]
    public async Task ServerSentEventsOnNodeAShowTheStepsOfAJobSubmittedToNodeBAndRunByAWorkerElsewhere()
    {
        var options = redis.Options();
        await using var nodeA = await ApiNode.StartAsync(options);
        await using var nodeB = await ApiNode.StartAsync(options);
        await using var cluster = new Cluster(options);
        var executor = new FakeExecutor { StepDelay = TimeSpan.FromMilliseconds(20) };

        var job = await nodeB.Client.SubmitAsync(Request("across", steps: 6), idempotencyKey: "k1");
        var again = await nodeA.Client.SubmitAsync(Request("across", steps: 6), idempotencyKey: "k1");
        Assert.Equal(job.Id, again.Id);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var events = new List<JobEvent>();
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var watching = Task.Run(async () =>
        {
            await foreach (var e in nodeA.Client.WatchAsync(job.Id, timeout.Token))
            {
                events.Add(e);
                connected.TrySetResult();
            }
        });
        await connected.Task.WaitAsync(timeout.Token);
        await cluster.WorkerAsync(executor);
        await watching;

        Assert.Equal("queued", events[0].Type);
        Assert.Equal([1, 2, 3, 4, 5, 6], events.Where(e => e.Type == "step").Select(e => e.Job.Step));
        Assert.Equal("succeeded", events[^1].Type);
        Assert.Equal(FakeExecutor.Picture("across", job.Seed, 0), await nodeB.Client.GetImageAsync(job.Id, 0));
        Assert.Equal(1, executor.Runs["across"]);

        // The node reads the figures from Redis every second.
        var metrics = "";
        await Wait.UntilAsync(async () => (metrics = await nodeA.Http.GetStringAsync("metrics")).Contains("diffuse_redis_live_workers 1")
            && metrics.Contains("diffuse_redis_queue_depth 0") && metrics.Contains("diffuse_redis_jobs_running 0"), what: "the finished job and the worker in the metrics");
        Assert.Contains("diffuse_redis_up 1", metrics);
        Assert.Contains("diffuse_redis_worker_heartbeats_total", metrics);
        Assert.Contains("diffuse_redis_claims_total 0", metrics);
    }

    [Fact]
    public async Task ASeededRequestRepeatedOnAnotherNodeComesFromTheSharedCache()
    {
        var options = redis.Options();
        await using var nodeA = await ApiNode.StartAsync(options);
        await using var nodeB = await ApiNode.StartAsync(options);
        await using var cluster = new Cluster(options);
        var executor = new FakeExecutor();
        await cluster.WorkerAsync(executor);

        var first = await nodeA.Client.RunAsync(Request("cached") with { Seed = 5 });
        var repeat = await nodeB.Client.SubmitAsync(Request("cached") with { Seed = 5 });
        var other = await nodeB.Client.RunAsync(Request("cached") with { Seed = 6 });

        Assert.False(first.Job.Cached);
        Assert.Equal(JobState.Succeeded, repeat.State);
        Assert.True(repeat.Cached);
        Assert.Equal(first.Images[0], await nodeA.Client.GetImageAsync(repeat.Id, 0));
        Assert.False(other.Job.Cached);
        Assert.Equal(2, executor.Runs["cached"]);
    }

    [Fact]
    public async Task TheClusterWideQueueLimitAnswers429OnEveryNode()
    {
        var options = redis.Options();
        await using var nodeA = await ApiNode.StartAsync(options, queue: 2);
        await using var nodeB = await ApiNode.StartAsync(options, queue: 2);

        await nodeA.Client.SubmitAsync(Request("1"));
        await nodeB.Client.SubmitAsync(Request("2"));
        using var full = await nodeA.Http.PostAsJsonAsync("v1/jobs", Request("3"));

        Assert.Equal(HttpStatusCode.TooManyRequests, full.StatusCode);
        Assert.NotNull(full.Headers.RetryAfter);
        Assert.Contains("queue is full", await full.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AnApiNodeAnswers503WhileRedisIsDownAndRecoversWhenItIsBack()
    {
        using var server = RedisServer.Start();
        var options = redis.Options(o => o with { Configuration = server.Address });
        await using var node = await ApiNode.StartAsync(options);
        Assert.Equal(HttpStatusCode.OK, (await node.Http.GetAsync("readyz")).StatusCode);

        server.Stop();
        await Wait.UntilAsync(async () => (await node.Http.GetAsync("readyz")).StatusCode == HttpStatusCode.ServiceUnavailable, what: "/readyz to fail");
        using var ready = await node.Http.GetAsync("readyz");
        Assert.Contains($"Redis at {server.Address} is unreachable", await ready.Content.ReadAsStringAsync());
        using var refused = await node.Http.PostAsJsonAsync("v1/jobs", Request("while down"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Contains($"Redis at {server.Address}", await refused.Content.ReadAsStringAsync());
        Assert.Contains("diffuse_redis_up 0", await node.Http.GetStringAsync("metrics"));

        server.Run();
        await Wait.UntilAsync(async () => (await node.Http.GetAsync("readyz")).StatusCode == HttpStatusCode.OK, what: "/readyz to recover");
        var job = await node.Client.SubmitAsync(Request("after"));
        Assert.Equal(JobState.Queued, job.State);
    }
}
