using DiffusersSharp.Serving.Redis.Tests.Support;
using StackExchange.Redis;

namespace DiffusersSharp.Serving.Redis.Tests;

[Collection(RedisCollection.Name)]
public sealed class RedisJobServiceTests(SharedRedis redis)
{
    [Fact]
    public async Task JobRunsOnAWorkerAndReportsEveryStep()
    {
        await using var cluster = new Cluster(redis.Options());
        var api = await cluster.ApiNodeAsync();
        var executor = new FakeExecutor();

        var job = await api.SubmitAsync(new GenerationRequest { Prompt = "a cat", NumInferenceSteps = 3, Seed = 7, NumImagesPerPrompt = 2 });
        Assert.Equal(JobState.Queued, job.State);
        Assert.Equal(7, job.Seed);
        var events = new List<JobEvent>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await foreach (var e in api.WatchAsync(job.Id, timeout.Token))
        {
            events.Add(e);
            // WatchAsync reports events from its subscription on: start the worker once it is subscribed.
            if (events.Count == 1) await cluster.WorkerAsync(executor);
        }

        var types = events.Select(e => e.Type).ToList();
        Assert.Equal("succeeded", types[^1]);
        Assert.Equal([1, 2, 3], events.Where(e => e.Type == "step").Select(e => e.Job.Step));
        Assert.Contains("started", types);
        var done = await api.GetAsync(job.Id);
        Assert.Equal(JobState.Succeeded, done!.State);
        Assert.Equal(2, done.ImageCount);
        Assert.NotNull(done.StartedAt);
        Assert.NotNull(done.FinishedAt);
        Assert.Equal(FakeExecutor.Picture("a cat", 7, 1), await api.GetImageAsync(job.Id, 1));
        Assert.Null(await api.GetImageAsync(job.Id, 2));
        Assert.Null(await api.GetAsync("no-such-job"));
    }

    [Fact]
    public async Task GenerateWaitsForThePicturesAndDrawsASeedWhenNoneIsGiven()
    {
        await using var cluster = new Cluster(redis.Options());
        var api = await cluster.ApiNodeAsync();
        await cluster.WorkerAsync(new FakeExecutor());
        var steps = new List<int>();

        var result = await api.GenerateAsync(new GenerationRequest { Prompt = "a dog", NumInferenceSteps = 2 },
            new SyncProgress<JobEvent>(e => { if (e.Type == "step") steps.Add(e.Job.Step); }));

        Assert.Equal(JobState.Succeeded, result.Job.State);
        Assert.NotNull(result.Job.Seed);
        Assert.Equal(FakeExecutor.Picture("a dog", result.Job.Seed, 0), Assert.Single(result.Images));
        Assert.Equal([1, 2], steps);
    }

    [Fact]
    public async Task AFailingJobFailsWithTheExecutorsMessage()
    {
        await using var cluster = new Cluster(redis.Options());
        var api = await cluster.ApiNodeAsync();
        await cluster.WorkerAsync(new FakeExecutor());

        var job = await api.SubmitAsync(new GenerationRequest { Prompt = "fail" });
        var last = (await Wait.ForEndAsync(api, job.Id))[^1];
        var generate = await Assert.ThrowsAsync<GenerationFailedException>(() => api.GenerateAsync(new GenerationRequest { Prompt = "fail" }));

        Assert.Equal("failed", last.Type);
        Assert.Equal("This prompt always fails.", last.Job.Error);
        Assert.Equal("This prompt always fails.", generate.Message);
        Assert.Equal(JobState.Failed, generate.Job!.State);
    }

    [Fact]
    public async Task ARetriedSubmitWithTheSameIdempotencyKeyReturnsTheFirstJob()
    {
        await using var cluster = new Cluster(redis.Options());
        var nodeA = await cluster.ApiNodeAsync();
        var nodeB = await cluster.ApiNodeAsync();
        var executor = new FakeExecutor();

        var first = await nodeA.SubmitAsync(new GenerationRequest { Prompt = "once" }, "key-1");
        var retried = await nodeB.SubmitAsync(new GenerationRequest { Prompt = "once" }, "key-1");
        var other = await nodeB.SubmitAsync(new GenerationRequest { Prompt = "once" }, "key-2");
        await cluster.WorkerAsync(executor);
        await Wait.ForEndAsync(nodeA, first.Id);
        await Wait.ForEndAsync(nodeA, other.Id);

        Assert.Equal(first.Id, retried.Id);
        Assert.NotEqual(first.Id, other.Id);
        Assert.Equal(2, executor.Runs["once"]);
        Assert.Equal(JobState.Succeeded, (await nodeB.GetAsync(first.Id))!.State);
    }

    [Fact]
    public async Task TheQueueLimitHoldsAcrossApiNodes()
    {
        await using var cluster = new Cluster(redis.Options(o => o with { MaxQueueLength = 3, RetryAfter = TimeSpan.FromSeconds(2) }));
        var nodeA = await cluster.ApiNodeAsync();
        var nodeB = await cluster.ApiNodeAsync();

        await nodeA.SubmitAsync(new GenerationRequest { Prompt = "1" });
        await nodeB.SubmitAsync(new GenerationRequest { Prompt = "2" });
        await nodeA.SubmitAsync(new GenerationRequest { Prompt = "3" });
        var full = await Assert.ThrowsAsync<QueueFullException>(() => nodeB.SubmitAsync(new GenerationRequest { Prompt = "4" }));
        Assert.Equal(TimeSpan.FromSeconds(2), full.RetryAfter);
        await Assert.ThrowsAsync<QueueFullException>(() => nodeA.SubmitAsync(new GenerationRequest { Prompt = "4" }));
        Assert.Equal(3, (await nodeA.Store.GetStatsAsync()).Waiting);

        await cluster.WorkerAsync(new FakeExecutor());
        await Wait.UntilAsync(async () => (await nodeA.Store.GetStatsAsync()) is { Waiting: 0, Running: 0 }, what: "the queue to drain");
        var accepted = await nodeB.SubmitAsync(new GenerationRequest { Prompt = "4" });
        Assert.Equal("succeeded", (await Wait.ForEndAsync(nodeA, accepted.Id))[^1].Type);
    }

    [Fact]
    public async Task ACancelledQueuedJobNeverRuns()
    {
        await using var cluster = new Cluster(redis.Options());
        var api = await cluster.ApiNodeAsync();
        var executor = new FakeExecutor();

        var job = await api.SubmitAsync(new GenerationRequest { Prompt = "never" });
        Assert.True(await api.CancelAsync(job.Id));
        Assert.False(await api.CancelAsync(job.Id));
        Assert.Equal(0, (await api.Store.GetStatsAsync()).Waiting);
        var after = await api.SubmitAsync(new GenerationRequest { Prompt = "after" });
        await cluster.WorkerAsync(executor);
        await Wait.ForEndAsync(api, after.Id);

        Assert.Equal(JobState.Cancelled, (await api.GetAsync(job.Id))!.State);
        Assert.False(executor.Runs.ContainsKey("never"));
    }

    [Fact]
    public async Task ACancelledRunningJobStopsOnItsWorker()
    {
        await using var cluster = new Cluster(redis.Options());
        var api = await cluster.ApiNodeAsync();
        var executor = new FakeExecutor { StepDelay = TimeSpan.FromMilliseconds(100) };
        await cluster.WorkerAsync(executor);

        var job = await api.SubmitAsync(new GenerationRequest { Prompt = "long", NumInferenceSteps = 200 });
        await executor.FirstStep.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(await api.CancelAsync(job.Id));
        var next = await api.SubmitAsync(new GenerationRequest { Prompt = "next", NumInferenceSteps = 1 });
        var events = await Wait.ForEndAsync(api, next.Id);

        Assert.Equal("succeeded", events[^1].Type);
        var cancelled = (await api.GetAsync(job.Id))!;
        Assert.Equal(JobState.Cancelled, cancelled.State);
        Assert.True(cancelled.Step < 200);
        await Wait.UntilAsync(async () => (await api.Store.GetStatsAsync()) is { Waiting: 0, Running: 0 }, what: "the cancelled entry to be acknowledged");
    }

    [Fact]
    public async Task AJobRunningPastItsTimeoutFailsSayingSoAndTheWorkerGoesOn()
    {
        await using var cluster = new Cluster(redis.Options(o => o with { JobTimeout = TimeSpan.FromMilliseconds(500) }));
        var api = await cluster.ApiNodeAsync();
        var executor = new FakeExecutor { StepDelay = TimeSpan.FromMilliseconds(100) };
        var worker = await cluster.WorkerAsync(executor);

        var job = await api.SubmitAsync(new GenerationRequest { Prompt = "long", NumInferenceSteps = 200 });
        var last = (await Wait.ForEndAsync(api, job.Id))[^1];
        var next = await api.SubmitAsync(new GenerationRequest { Prompt = "short", NumInferenceSteps = 1 });

        Assert.Equal("failed", last.Type);
        Assert.Equal("The job timed out after 0.5 s.", last.Job.Error);
        Assert.InRange(last.Job.Step, 1, 199);
        Assert.Equal("succeeded", (await Wait.ForEndAsync(api, next.Id))[^1].Type);
        Assert.Equal(1, worker.JobsFailed);
        await Wait.UntilAsync(async () => (await api.Store.GetStatsAsync()) is { Waiting: 0, Running: 0 }, what: "the timed-out entry to be acknowledged");
    }

    [Fact]
    public async Task EventsOfAJobRunElsewhereReachAWatcherOnAnotherNode()
    {
        await using var cluster = new Cluster(redis.Options());
        var nodeA = await cluster.ApiNodeAsync();
        var nodeB = await cluster.ApiNodeAsync();
        var executor = new FakeExecutor { StepDelay = TimeSpan.FromMilliseconds(20) };

        var job = await nodeB.SubmitAsync(new GenerationRequest { Prompt = "far", NumInferenceSteps = 5 });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var events = new List<JobEvent>();
        await using var watch = nodeA.WatchAsync(job.Id, timeout.Token).GetAsyncEnumerator();
        Assert.True(await watch.MoveNextAsync());
        events.Add(watch.Current);
        await cluster.WorkerAsync(executor);
        while (await watch.MoveNextAsync()) events.Add(watch.Current);

        Assert.Equal("queued", events[0].Type);
        Assert.Equal([1, 2, 3, 4, 5], events.Where(e => e.Type == "step").Select(e => e.Job.Step));
        Assert.Equal("succeeded", events[^1].Type);
        Assert.Single(events, e => e.Type == "succeeded");
    }

    [Fact]
    public async Task TheResultCacheIsSharedByAllNodesForSeededRequests()
    {
        await using var cluster = new Cluster(redis.Options());
        var nodeA = await cluster.ApiNodeAsync();
        var nodeB = await cluster.ApiNodeAsync();
        var executor = new FakeExecutor();
        await cluster.WorkerAsync(executor);

        var first = await nodeA.GenerateAsync(new GenerationRequest { Prompt = "same", Seed = 3 });
        var again = await nodeB.GenerateAsync(new GenerationRequest { Prompt = "same", Seed = 3 });
        await nodeA.GenerateAsync(new GenerationRequest { Prompt = "unseeded" });
        await nodeB.GenerateAsync(new GenerationRequest { Prompt = "unseeded" });

        Assert.False(first.Job.Cached);
        Assert.True(again.Job.Cached);
        Assert.NotEqual(first.Job.Id, again.Job.Id);
        Assert.Equal(first.Images, again.Images);
        Assert.Equal(1, executor.Runs["same"]);
        Assert.Equal(2, executor.Runs["unseeded"]);
    }

    [Fact]
    public async Task TheCacheEvictsTheLeastRecentlyUsedBeyondItsBudget()
    {
        await using var cluster = new Cluster(redis.Options(o => o with { CacheBudgetBytes = 2500 }));
        var store = await cluster.ConnectAsync();
        byte[][] Entry(byte fill) => [Enumerable.Repeat(fill, 1000).ToArray()];

        Assert.Equal(0, await store.Cache.PutAsync("a", Entry(1)));
        Assert.Equal(0, await store.Cache.PutAsync("b", Entry(2)));
        Assert.NotNull(await store.Cache.GetAsync("a"));
        Assert.Equal(1, await store.Cache.PutAsync("c", Entry(3)));

        Assert.Null(await store.Cache.GetAsync("b"));
        Assert.Equal(Entry(1), await store.Cache.GetAsync("a"));
        Assert.Equal(Entry(3), await store.Cache.GetAsync("c"));
        Assert.True((await store.GetStatsAsync()).CacheBytes <= 2500);
        Assert.Equal(0, await store.Cache.PutAsync("huge", [new byte[5000]]));
        Assert.Null(await store.Cache.GetAsync("huge"));
    }

    [Fact]
    public async Task LargeResultsGoToTheSharedFolder()
    {
        var folder = Path.Combine(Path.GetTempPath(), "diffuse-results-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await using var cluster = new Cluster(redis.Options(o => o with { SharedResultFolder = folder, LargeResultBytes = 4 }));
            var api = await cluster.ApiNodeAsync();
            await cluster.WorkerAsync(new FakeExecutor());

            var result = await api.GenerateAsync(new GenerationRequest { Prompt = "big", Seed = 1 });

            Assert.Equal(FakeExecutor.Picture("big", 1, 0), Assert.Single(result.Images));
            Assert.Equal(FakeExecutor.Picture("big", 1, 0), await File.ReadAllBytesAsync(Path.Combine(folder, result.Job.Id, "0.png")));
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task AnAbandonedJobIsClaimedAndRunAgainWithItsSeed()
    {
        await using var cluster = new Cluster(redis.Options());
        var api = await cluster.ApiNodeAsync();
        var store = await cluster.ConnectAsync();
        var job = await api.SubmitAsync(new GenerationRequest { Prompt = "orphan" });
        // A worker that takes the job, starts it and dies without a word.
        var entry = (await store.ReadNewAsync("dead-worker"))!;
        var dead = await store.StartAsync(entry, "dead-worker");
        Assert.True(dead.Run);
        Assert.Equal(JobState.Running, (await api.GetAsync(job.Id))!.State);

        var executor = new FakeExecutor();
        var worker = await cluster.WorkerAsync(executor);
        var events = await Wait.ForEndAsync(api, job.Id);

        Assert.Equal("succeeded", events[^1].Type);
        Assert.Equal(FakeExecutor.Picture("orphan", job.Seed, 0), await api.GetImageAsync(job.Id, 0));
        Assert.Equal(1, worker.JobsClaimed);
        Assert.Equal(1, (await api.Store.GetStatsAsync()).Claims);
        // The dead attempt cannot overwrite the result if it comes back.
        Assert.False(await store.FinishAsync(entry, dead.Attempt, JobState.Failed, 0, "late", "redis", false));
        Assert.Equal(JobState.Succeeded, (await api.GetAsync(job.Id))!.State);
    }

    [Fact]
    public async Task AJobAbandonedTooOftenFailsWithAClearReason()
    {
        await using var cluster = new Cluster(redis.Options(o => o with { MaxAttempts = 2 }));
        var api = await cluster.ApiNodeAsync();
        var store = await cluster.ConnectAsync();
        var job = await api.SubmitAsync(new GenerationRequest { Prompt = "poison" });
        Assert.True((await store.StartAsync((await store.ReadNewAsync("dead-1"))!, "dead-1")).Run);
        await Task.Delay(cluster.Options.ClaimIdleTime + TimeSpan.FromMilliseconds(100));
        Assert.True((await store.StartAsync((await store.ClaimAbandonedAsync("dead-2"))!, "dead-2")).Run);

        var executor = new FakeExecutor();
        await cluster.WorkerAsync(executor);
        var last = (await Wait.ForEndAsync(api, job.Id))[^1];

        Assert.Equal("failed", last.Type);
        Assert.Contains("abandoned 2 times", last.Job.Error);
        Assert.False(executor.Runs.ContainsKey("poison"));
        await Wait.UntilAsync(async () => (await api.Store.GetStatsAsync()) is { Waiting: 0, Running: 0 }, what: "the entry to be acknowledged");
    }

    [Fact]
    public async Task WorkersAnnounceThemselvesAndShareTheQueue()
    {
        await using var cluster = new Cluster(redis.Options());
        var api = await cluster.ApiNodeAsync();
        var executor = new FakeExecutor { StepDelay = TimeSpan.FromMilliseconds(30) };
        var one = await cluster.WorkerAsync(executor);
        var two = await cluster.WorkerAsync(executor);

        var jobs = new List<JobInfo>();
        for (var i = 0; i < 8; i++) jobs.Add(await api.SubmitAsync(new GenerationRequest { Prompt = $"p{i}", NumInferenceSteps = 3 }));
        foreach (var job in jobs) await Wait.ForEndAsync(api, job.Id);

        Assert.Equal(8, one.JobsCompleted + two.JobsCompleted);
        Assert.True(one.JobsCompleted > 0 && two.JobsCompleted > 0, $"jobs ran {one.JobsCompleted} / {two.JobsCompleted}");
        await Wait.UntilAsync(async () => (await api.Store.GetStatsAsync()).LiveWorkers == 2, what: "two live workers");
        Assert.True((await api.Store.GetStatsAsync()).Heartbeats >= 2);
        var db = (await cluster.ConnectAsync()).Db;
        Assert.Equal(0, await db.StreamLengthAsync(cluster.Options.KeyPrefix + "jobs"));
    }

    [Fact]
    public async Task BadAddressesAndRequestsAreRefusedClearly()
    {
        var bad = await Assert.ThrowsAsync<ArgumentException>(() => RedisJobStore.ConnectAsync(new RedisServingOptions { Configuration = "" }));
        Assert.Contains("is not a Redis address", bad.Message);
        await using var cluster = new Cluster(redis.Options());
        var api = new RedisJobService(await cluster.ConnectAsync(), _ => throw new RequestValidationException("width", "must be a multiple of 8."));
        await using var _ = api;
        var invalid = await Assert.ThrowsAsync<RequestValidationException>(() => api.SubmitAsync(new GenerationRequest { Width = 9 }));
        Assert.Contains("width", invalid.Errors.Keys);
        Assert.Equal(0, (await api.Store.GetStatsAsync()).Waiting);
    }
}
