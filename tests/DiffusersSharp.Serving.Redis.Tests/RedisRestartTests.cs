using DiffusersSharp.Serving.Redis.Tests.Support;

namespace DiffusersSharp.Serving.Redis.Tests;

/// <summary>Redis going away and coming back, on a server of the test's own with its append-only file on.</summary>
public sealed class RedisRestartTests
{
    [Fact]
    public async Task NodesAnswerUnavailableWhileRedisIsDownAndNoAcceptedJobIsLostWhenItRestarts()
    {
        using var server = RedisServer.Start();
        var options = new RedisServingOptions
        {
            Configuration = server.Address,
            ClaimIdleTime = TimeSpan.FromMilliseconds(600),
            HeartbeatInterval = TimeSpan.FromMilliseconds(150),
            PollInterval = TimeSpan.FromMilliseconds(200),
            CommandTimeout = TimeSpan.FromSeconds(2),
        };
        await using var cluster = new Cluster(options);
        var api = await cluster.ApiNodeAsync();
        var executor = new FakeExecutor { StepDelay = TimeSpan.FromMilliseconds(40) };
        var worker = await cluster.WorkerAsync(executor);
        var accepted = new List<JobInfo> { await api.SubmitAsync(new GenerationRequest { Prompt = "running", NumInferenceSteps = 40 }) };
        await executor.FirstStep.Task.WaitAsync(TimeSpan.FromSeconds(30));
        for (var i = 0; i < 5; i++) accepted.Add(await api.SubmitAsync(new GenerationRequest { Prompt = $"queued {i}", NumInferenceSteps = 2 }));

        server.Stop();
        var down = await Assert.ThrowsAsync<ServiceUnavailableException>(() => api.SubmitAsync(new GenerationRequest { Prompt = "refused" }));
        Assert.Contains($"Redis at {server.Address}", down.Message);
        Assert.False(api.IsReady);
        await Wait.UntilAsync(() => Task.FromResult(worker.IsPaused), what: "the worker to pause");
        // A node started while Redis is down comes up and refuses work until Redis is back.
        var lateNode = await cluster.ApiNodeAsync();
        await Assert.ThrowsAsync<ServiceUnavailableException>(() => lateNode.GetAsync(accepted[0].Id));

        server.Run();
        await Wait.UntilAsync(() => Task.FromResult(api.IsReady && lateNode.IsReady), what: "the nodes to reconnect");
        accepted.Add(await lateNode.SubmitAsync(new GenerationRequest { Prompt = "after", NumInferenceSteps = 2 }));

        foreach (var job in accepted)
        {
            var last = (await Wait.ForEndAsync(api, job.Id))[^1];
            Assert.Equal("succeeded", last.Type);
        }
        var prompts = new[] { "running", "queued 0", "queued 1", "queued 2", "queued 3", "queued 4", "after" };
        for (var i = 0; i < accepted.Count; i++)
            Assert.Equal(FakeExecutor.Picture(prompts[i], accepted[i].Seed, 0), await lateNode.GetImageAsync(accepted[i].Id, 0));
        Assert.All(prompts, p => Assert.Equal(1, executor.Runs[p]));
        Assert.False(worker.IsPaused);
    }
}
