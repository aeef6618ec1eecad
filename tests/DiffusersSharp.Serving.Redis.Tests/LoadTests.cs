using System.Collections.Concurrent;
using DiffusersSharp.Serving.Redis.Tests.Support;

namespace DiffusersSharp.Serving.Redis.Tests;

[Collection(RedisCollection.Name)]
public sealed class LoadTests(SharedRedis redis)
{
    /// <summary>
    /// 500 requests from 50 clients on two API nodes and three workers, with a queue small enough to answer 429:
    /// clients retry with their idempotency key, and each request ends as exactly one job with its own picture.
    /// </summary>
    [Fact]
    public async Task EveryAcceptedJobCompletesExactlyOnceForItsClient()
    {
        const int clients = 50, perClient = 10;
        await using var cluster = new Cluster(redis.Options(o => o with { MaxQueueLength = 40, RetryAfter = TimeSpan.FromMilliseconds(50), ClaimIdleTime = TimeSpan.FromMinutes(1) }));
        RedisJobService[] nodes = [await cluster.ApiNodeAsync(), await cluster.ApiNodeAsync()];
        var executor = new FakeExecutor();
        for (var i = 0; i < 3; i++) await cluster.WorkerAsync(executor);
        var finals = new ConcurrentDictionary<string, int>();
        var rejected = 0;

        async Task<(string Prompt, JobInfo Job, JobEvent Last)> RunAsync(int client, int request)
        {
            var prompt = $"client {client} request {request}";
            var key = $"{client}-{request}";
            var node = nodes[(client + request) % 2];
            JobInfo job;
            while (true)
            {
                try
                {
                    job = await node.SubmitAsync(new GenerationRequest { Prompt = prompt, NumInferenceSteps = 2 }, key);
                    break;
                }
                catch (QueueFullException e)
                {
                    Interlocked.Increment(ref rejected);
                    await Task.Delay(e.RetryAfter);
                }
            }
            // The client lost the answer and posts again: same job.
            Assert.Equal(job.Id, (await nodes[(client + request + 1) % 2].SubmitAsync(new GenerationRequest { Prompt = prompt, NumInferenceSteps = 2 }, key)).Id);
            var events = await Wait.ForEndAsync(nodes[(client + request + 1) % 2], job.Id);
            foreach (var e in events.Where(e => e.Type is "succeeded" or "failed" or "cancelled")) finals.AddOrUpdate(job.Id, 1, (_, n) => n + 1);
            return (prompt, job, events[^1]);
        }

        var results = await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var mine = new List<(string, JobInfo, JobEvent)>();
            for (var r = 0; r < perClient; r++) mine.Add(await RunAsync(c, r));
            return mine;
        })));

        var all = results.SelectMany(r => r).ToList();
        Assert.Equal(clients * perClient, all.Select(r => r.Item2.Id).Distinct().Count());
        Assert.All(all, r => Assert.Equal("succeeded", r.Item3.Type));
        Assert.All(finals.Values, n => Assert.Equal(1, n));
        Assert.Equal(clients * perClient, finals.Count);
        Assert.Equal(clients * perClient, executor.TotalRuns);
        foreach (var (prompt, job, _) in all.Take(50))
            Assert.Equal(FakeExecutor.Picture(prompt, job.Seed, 0), await nodes[0].GetImageAsync(job.Id, 0));
        Assert.True(rejected > 0, "the queue limit never answered 429; the test does not exercise back-pressure");
    }
}
