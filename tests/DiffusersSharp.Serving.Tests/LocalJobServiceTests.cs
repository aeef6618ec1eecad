using DiffusersSharp.Serving.Tests.Support;

namespace DiffusersSharp.Serving.Tests;

public sealed class LocalJobServiceTests(SharedManager shared) : IClassFixture<SharedManager>
{
    private readonly PipelineManager _manager = shared.Manager;

    /// <summary>Holds pipeline calls whose first prompt is "hold" until released.</summary>
    private sealed class Gate : IDisposable
    {
        public ManualResetEventSlim Entered { get; } = new();
        public ManualResetEventSlim Open { get; } = new();

        public IGenerationFaultInjector Injector => new DelegateFaultInjector(a =>
        {
            if (a.Prompts[0] != "hold") return;
            Entered.Set();
            Assert.True(Open.Wait(TimeSpan.FromMinutes(1)));
        });

        public void Dispose()
        {
            Open.Set();
            Entered.Dispose();
        }
    }

    [Fact]
    public async Task BatchedJobsGetThePicturesTheyGetAlone()
    {
        var metrics = new RecordingMetrics();
        using var gate = new Gate();
        await using var service = await Jobs.StartedAsync(TestModels.Options(metrics) with { FaultInjector = gate.Injector, MaxBatchSize = 4 }, _manager);
        var hold = await service.SubmitAsync(TestModels.TextToImage("hold"));
        Assert.True(gate.Entered.Wait(TimeSpan.FromMinutes(1)));
        // Queued behind the held job: three compatible jobs with their own prompts and seeds, and one of another size.
        var requests = new[]
        {
            TestModels.TextToImage("a red circle", seed: 1) with { NumImagesPerPrompt = 2 },
            TestModels.TextToImage("a blue square", seed: 2) with { NumImagesPerPrompt = 2, NegativePrompt = "blur" },
            TestModels.TextToImage("a green line", seed: 3) with { NumImagesPerPrompt = 2, NegativePrompt = "" },
        };
        var batched = new List<JobInfo>();
        foreach (var request in requests) batched.Add(await service.SubmitAsync(request));
        var other = await service.SubmitAsync(TestModels.TextToImage("a red circle", seed: 1) with { Width = 40 });
        Assert.Equal(4, service.QueueDepth);
        gate.Open.Set();

        foreach (var job in batched.Append(other).Append(hold))
            Assert.Equal(JobState.Succeeded, (await Jobs.FinishedAsync(service, job.Id)).State);
        Assert.Equal([1, 3, 1], metrics.Batches);

        for (var i = 0; i < requests.Length; i++)
        {
            var alone = await _manager.GenerateAsync(requests[i]);
            for (var k = 0; k < 2; k++)
            {
                var png = await service.GetImageAsync(batched[i].Id, k);
                Assert.True(Png.MaxDifference(alone.Images[k], png!) <= 1, $"job {i} picture {k} differs from its unbatched run");
            }
        }
        // The pictures really are each job's own.
        Assert.True(Png.MaxDifference((await service.GetImageAsync(batched[0].Id, 0))!, (await service.GetImageAsync(batched[1].Id, 0))!) > 1);
    }

    [Fact]
    public async Task WorkersRunOtherModelsWhileOneIsBusy()
    {
        using var gate = new Gate();
        await using var service = await Jobs.StartedAsync(TestModels.Options() with { FaultInjector = gate.Injector, WorkerCount = 2 }, _manager);
        var held = await service.SubmitAsync(TestModels.TextToImage("hold"));
        Assert.True(gate.Entered.Wait(TimeSpan.FromMinutes(1)));
        var xl = await service.GenerateAsync(TestModels.TextToImage("an SDXL picture") with { Model = "tiny-sdxl" });
        Assert.Equal(JobState.Succeeded, xl.Job.State);
        Assert.Equal(JobState.Running, (await service.GetAsync(held.Id))!.State);
        gate.Open.Set();
        Assert.Equal(JobState.Succeeded, (await Jobs.FinishedAsync(service, held.Id)).State);
    }

    [Fact]
    public async Task WatchReportsEveryStepAndEndsAfterTheFinalEvent()
    {
        await using var service = await Jobs.StartedAsync(TestModels.Options(), _manager);
        var events = new List<JobEvent>();
        var result = await service.GenerateAsync(TestModels.TextToImage(steps: 3), new SyncProgress<JobEvent>(events.Add));
        Assert.Equal(JobState.Succeeded, result.Job.State);
        Assert.Single(result.Images);
        Assert.Equal([1, 2, 3], events.Where(e => e.Type == "step").Select(e => e.Job.Step));
        Assert.Equal("succeeded", events[^1].Type);
        Assert.Equal(1, result.Job.Seed);
        // Watching a finished job gives its final state and ends.
        var again = new List<JobEvent>();
        await foreach (var e in service.WatchAsync(result.Job.Id)) again.Add(e);
        Assert.Equal("succeeded", Assert.Single(again).Type);
    }

    [Fact]
    public async Task CancellingARunningJobStopsItAndFreesTheWorker()
    {
        await using var service = await Jobs.StartedAsync(TestModels.Options(), _manager);
        var job = await service.SubmitAsync(TestModels.TextToImage(steps: 150) with { Width = 64, Height = 64 });
        await Jobs.EventAsync(service, job.Id, e => e.Type == "step");
        Assert.True(await service.CancelAsync(job.Id));
        var final = await Jobs.FinishedAsync(service, job.Id);
        Assert.Equal(JobState.Cancelled, final.State);
        Assert.True(final.Step < 150);
        Assert.False(await service.CancelAsync(job.Id));
        Assert.Equal(JobState.Succeeded, (await service.GenerateAsync(TestModels.TextToImage())).Job.State);
    }

    [Fact]
    public async Task ClientDisconnectCancelsTheJob()
    {
        await using var service = await Jobs.StartedAsync(TestModels.Options(), _manager);
        using var disconnect = new CancellationTokenSource();
        var progress = new SyncProgress<JobEvent>(e =>
        {
            if (e.Type == "step") disconnect.Cancel();
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            service.GenerateAsync(TestModels.TextToImage(steps: 150) with { Width = 64, Height = 64 }, progress, disconnect.Token));
    }

    [Fact]
    public async Task CancellingAQueuedJobTakesItOutOfTheQueue()
    {
        using var gate = new Gate();
        await using var service = await Jobs.StartedAsync(TestModels.Options() with { FaultInjector = gate.Injector }, _manager);
        var hold = await service.SubmitAsync(TestModels.TextToImage("hold"));
        Assert.True(gate.Entered.Wait(TimeSpan.FromMinutes(1)));
        var queued = await service.SubmitAsync(TestModels.TextToImage("next"));
        Assert.True(await service.CancelAsync(queued.Id));
        Assert.Equal(JobState.Cancelled, (await service.GetAsync(queued.Id))!.State);
        Assert.Equal(0, service.QueueDepth);
        gate.Open.Set();
        Assert.Equal(JobState.Succeeded, (await Jobs.FinishedAsync(service, hold.Id)).State);
    }

    [Fact]
    public async Task CancellingOneJobOfABatchLeavesTheOthers()
    {
        var metrics = new RecordingMetrics();
        using var gate = new Gate();
        using var batchEntered = new ManualResetEventSlim();
        using var batchOpen = new ManualResetEventSlim();
        var faults = new DelegateFaultInjector(a =>
        {
            gate.Injector.BeforePipelineCall(a);
            if (a.Prompts.Count < 2) return;
            batchEntered.Set();
            Assert.True(batchOpen.Wait(TimeSpan.FromMinutes(1)));
        });
        await using var service = await Jobs.StartedAsync(TestModels.Options(metrics) with { FaultInjector = faults }, _manager);
        var hold = await service.SubmitAsync(TestModels.TextToImage("hold"));
        Assert.True(gate.Entered.Wait(TimeSpan.FromMinutes(1)));
        var cancelled = await service.SubmitAsync(TestModels.TextToImage("a", seed: 1));
        var kept = await service.SubmitAsync(TestModels.TextToImage("b", seed: 2));
        gate.Open.Set();
        Assert.True(batchEntered.Wait(TimeSpan.FromMinutes(1)));
        Assert.True(await service.CancelAsync(cancelled.Id));
        batchOpen.Set();
        Assert.Equal(JobState.Cancelled, (await Jobs.FinishedAsync(service, cancelled.Id)).State);
        Assert.Equal(JobState.Succeeded, (await Jobs.FinishedAsync(service, kept.Id)).State);
        Assert.Equal(JobState.Succeeded, (await Jobs.FinishedAsync(service, hold.Id)).State);
        Assert.Equal([1, 2], metrics.Batches);
        Assert.Null(await service.GetImageAsync(cancelled.Id, 0));
    }

    [Fact]
    public async Task AJobPastItsTimeoutFails()
    {
        var slow = new DelegateFaultInjector(a =>
        {
            // Held until the timeout cancels the call, so the outcome does not depend on how loaded the machine is.
            if (a.Prompts[0] == "slow") a.CancellationToken.WaitHandle.WaitOne(TimeSpan.FromMinutes(1));
        });
        await using var service = await Jobs.StartedAsync(TestModels.Options() with { FaultInjector = slow, JobTimeout = TimeSpan.FromSeconds(3) }, _manager);
        var job = await service.SubmitAsync(TestModels.TextToImage("slow"));
        var final = await Jobs.FinishedAsync(service, job.Id);
        Assert.Equal(JobState.Failed, final.State);
        Assert.Contains("timed out", final.Error);
        Assert.Equal(JobState.Succeeded, (await service.GenerateAsync(TestModels.TextToImage())).Job.State);
    }

    [Fact]
    public async Task AFailingJobFailsAloneAndTheWorkerGoesOn()
    {
        var metrics = new RecordingMetrics();
        using var gate = new Gate();
        var faults = new DelegateFaultInjector(a =>
        {
            gate.Injector.BeforePipelineCall(a);
            if (a.Prompts.Contains("boom")) throw new InvalidOperationException("the pipeline broke");
        });
        await using var service = await Jobs.StartedAsync(TestModels.Options(metrics) with { FaultInjector = faults }, _manager);
        var hold = await service.SubmitAsync(TestModels.TextToImage("hold"));
        Assert.True(gate.Entered.Wait(TimeSpan.FromMinutes(1)));
        var boom = await service.SubmitAsync(TestModels.TextToImage("boom"));
        var fine = await service.SubmitAsync(TestModels.TextToImage("fine", seed: 9));
        gate.Open.Set();
        var failed = await Jobs.FinishedAsync(service, boom.Id);
        Assert.Equal(JobState.Failed, failed.State);
        Assert.Contains("the pipeline broke", failed.Error);
        Assert.Equal(JobState.Succeeded, (await Jobs.FinishedAsync(service, fine.Id)).State);
        Assert.Equal(JobState.Succeeded, (await Jobs.FinishedAsync(service, hold.Id)).State);
        var next = await Assert.ThrowsAsync<GenerationFailedException>(() => service.GenerateAsync(TestModels.TextToImage("boom")));
        Assert.Contains("the pipeline broke", next.Message);
        Assert.Equal(JobState.Succeeded, (await service.GenerateAsync(TestModels.TextToImage("after"))).Job.State);
    }

    [Fact]
    public async Task OutOfMemoryIsRetriedWithMemorySavingAndCounted()
    {
        var metrics = new RecordingMetrics();
        var attempts = new List<bool>();
        var oom = new DelegateFaultInjector(a =>
        {
            attempts.Add(a.MemorySaving);
            if (a.Prompts[0] == "always" || !a.MemorySaving)
                throw new ExternalException("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to allocate 1073741824 bytes.");
        });
        await using var service = await Jobs.StartedAsync(TestModels.Options(metrics) with { FaultInjector = oom }, _manager);
        var result = await service.GenerateAsync(TestModels.TextToImage("once"));
        Assert.Equal(JobState.Succeeded, result.Job.State);
        Assert.Equal([false, true], attempts);
        Assert.Equal(1, metrics.OutOfMemoryFallbacks);

        var e = await Assert.ThrowsAsync<GenerationFailedException>(() => service.GenerateAsync(TestModels.TextToImage("always")));
        Assert.Contains("Out of memory, even with attention slicing and VAE tiling", e.Message);
        Assert.Equal(2, metrics.OutOfMemoryFallbacks);
        // The memory options are switched off again: the next picture is the one it always was.
        var plain = await _manager.GenerateAsync(TestModels.TextToImage("once"));
        Assert.Equal(plain.Images, (await service.GenerateAsync(TestModels.TextToImage("once") with { Seed = 1, NumInferenceSteps = 2 })).Images);
    }

    private sealed class ExternalException(string message) : Exception(message);

    [Fact]
    public async Task SeededRepeatsComeFromTheResultCache()
    {
        var metrics = new RecordingMetrics();
        await using var service = await Jobs.StartedAsync(TestModels.Options(metrics), _manager);
        var first = await service.GenerateAsync(TestModels.TextToImage(seed: 42));
        Assert.False(first.Job.Cached);
        var repeat = await service.SubmitAsync(TestModels.TextToImage(seed: 42));
        Assert.Equal((JobState.Succeeded, true), (repeat.State, repeat.Cached));
        Assert.Equal(first.Images[0], await service.GetImageAsync(repeat.Id, 0));
        Assert.Equal(1, metrics.CacheHits);

        var unseeded = await service.GenerateAsync(TestModels.TextToImage(seed: null));
        var unseededAgain = await service.GenerateAsync(TestModels.TextToImage(seed: null));
        Assert.False(unseededAgain.Job.Cached);
        Assert.NotEqual(unseeded.Job.Seed, unseededAgain.Job.Seed);
        Assert.Equal(1, metrics.CacheHits);
    }

    [Fact]
    public async Task AnIdempotencyKeyGivesTheSameJob()
    {
        await using var service = await Jobs.StartedAsync(TestModels.Options(), _manager);
        var first = await service.SubmitAsync(TestModels.TextToImage(), "key-1");
        var second = await service.SubmitAsync(TestModels.TextToImage(), "key-1");
        Assert.Equal(first.Id, second.Id);
        Assert.NotEqual(first.Id, (await service.SubmitAsync(TestModels.TextToImage(), "key-2")).Id);
        await Jobs.FinishedAsync(service, first.Id);
        Assert.Equal(first.Id, (await service.SubmitAsync(TestModels.TextToImage(), "key-1")).Id);
    }

    [Fact]
    public async Task AFullQueueRefusesWork()
    {
        using var gate = new Gate();
        await using var service = await Jobs.StartedAsync(TestModels.Options() with { FaultInjector = gate.Injector, QueueCapacity = 1 }, _manager);
        await service.SubmitAsync(TestModels.TextToImage("hold"));
        Assert.True(gate.Entered.Wait(TimeSpan.FromMinutes(1)));
        await service.SubmitAsync(TestModels.TextToImage("queued"));
        var e = await Assert.ThrowsAsync<QueueFullException>(() => service.SubmitAsync(TestModels.TextToImage("one more")));
        Assert.True(e.RetryAfter > TimeSpan.Zero);
        await Assert.ThrowsAsync<RequestValidationException>(() => service.SubmitAsync(TestModels.TextToImage() with { NumInferenceSteps = 0 }));
        gate.Open.Set();
    }

    [Fact]
    public async Task ShutdownDrainsRunningJobsAndRefusesNewOnes()
    {
        using var gate = new Gate();
        var service = await Jobs.StartedAsync(TestModels.Options() with { FaultInjector = gate.Injector }, _manager);
        Assert.True(service.IsReady);
        var running = await service.SubmitAsync(TestModels.TextToImage("hold"));
        Assert.True(gate.Entered.Wait(TimeSpan.FromMinutes(1)));
        var queued = await service.SubmitAsync(TestModels.TextToImage("queued"));
        var stopping = service.StopAsync();
        Assert.False(service.IsReady);
        await Assert.ThrowsAsync<ServiceUnavailableException>(() => service.SubmitAsync(TestModels.TextToImage()));
        gate.Open.Set();
        await stopping;
        Assert.Equal(JobState.Succeeded, (await service.GetAsync(running.Id))!.State);
        Assert.Equal(JobState.Queued, (await service.GetAsync(queued.Id))!.State);
        await service.DisposeAsync();
    }

    [Fact]
    public async Task QueuedInterruptedAndFinishedJobsSurviveARestart()
    {
        var store = Directory.CreateTempSubdirectory("serving-store-").FullName;
        try
        {
            var options = TestModels.Options() with { StoreDirectory = store, DrainTimeout = TimeSpan.Zero, ResultCacheBytes = 0 };
            string finished, interrupted, queued, idempotent;
            byte[] picture;
            await using (var first = await Jobs.StartedAsync(options, _manager))
            {
                var done = await first.GenerateAsync(TestModels.TextToImage(seed: 5));
                (finished, picture) = (done.Job.Id, done.Images[0]);
                interrupted = (await first.SubmitAsync(TestModels.TextToImage(steps: 150) with { Width = 64, Height = 64 })).Id;
                queued = (await first.SubmitAsync(TestModels.TextToImage("queued", seed: 6))).Id;
                idempotent = (await first.SubmitAsync(TestModels.TextToImage("keyed"), "restart-key")).Id;
                await Jobs.EventAsync(first, interrupted, e => e.Type == "step");
                await first.StopAsync();
                Assert.Equal(JobState.Queued, (await first.GetAsync(interrupted))!.State);
            }
            await using var second = await Jobs.StartedAsync(options, _manager);
            Assert.Equal(picture, await second.GetImageAsync(finished, 0));
            Assert.Equal(JobState.Succeeded, (await second.GetAsync(finished))!.State);
            Assert.Equal(idempotent, (await second.SubmitAsync(TestModels.TextToImage("keyed"), "restart-key")).Id);
            foreach (var id in new[] { interrupted, queued, idempotent })
                Assert.Equal(JobState.Succeeded, (await Jobs.FinishedAsync(second, id)).State);
            Assert.True(Png.MaxDifference((await _manager.GenerateAsync(TestModels.TextToImage("queued", seed: 6))).Images[0], (await second.GetImageAsync(queued, 0))!) <= 1);
        }
        finally
        {
            Directory.Delete(store, recursive: true);
        }
    }

    [Fact]
    public async Task JobsRunningWhenTheProcessDiedRunAgainAndBadOnesFail()
    {
        var store = Directory.CreateTempSubdirectory("serving-store-").FullName;
        try
        {
            var now = DateTimeOffset.UtcNow;
            using (var crashed = new SqliteJobStore(store))
            {
                await crashed.AddAsync(new StoredJob(new JobInfo { Id = "running1", State = JobState.Running, CreatedAt = now, StartedAt = now, Step = 1 },
                    TestModels.TextToImage(seed: 11), null));
                await crashed.AddAsync(new StoredJob(new JobInfo { Id = "invalid1", State = JobState.Queued, CreatedAt = now },
                    TestModels.TextToImage() with { Model = "removed-model" }, null));
            }
            await using var service = await Jobs.StartedAsync(TestModels.Options() with { StoreDirectory = store }, _manager);
            var resumed = await Jobs.FinishedAsync(service, "running1");
            Assert.Equal((JobState.Succeeded, 1, 11L), (resumed.State, resumed.ImageCount, resumed.Seed!.Value));
            var invalid = (await service.GetAsync("invalid1"))!;
            Assert.Equal(JobState.Failed, invalid.State);
            Assert.Contains("removed-model", invalid.Error);
        }
        finally
        {
            Directory.Delete(store, recursive: true);
        }
    }

    [Fact]
    public async Task FinishedJobsAreRemovedAfterTheirRetention()
    {
        var store = Directory.CreateTempSubdirectory("serving-store-").FullName;
        try
        {
            var clock = new ManualClock(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
            await using var service = await Jobs.StartedAsync(
                TestModels.Options() with { StoreDirectory = store, TimeProvider = clock, ResultRetention = TimeSpan.FromHours(1) }, _manager);
            var old = (await service.GenerateAsync(TestModels.TextToImage(seed: 1))).Job.Id;
            clock.Advance(TimeSpan.FromMinutes(45));
            var recent = (await service.GenerateAsync(TestModels.TextToImage(seed: 2))).Job.Id;
            clock.Advance(TimeSpan.FromMinutes(30));
            Assert.Equal(1, await service.RemoveExpiredAsync());
            Assert.Null(await service.GetAsync(old));
            Assert.Null(await service.GetImageAsync(old, 0));
            Assert.False(Directory.Exists(Path.Combine(store, "results", old)));
            Assert.NotNull(await service.GetImageAsync(recent, 0));
            Assert.Equal(0, await service.RemoveExpiredAsync());
        }
        finally
        {
            Directory.Delete(store, recursive: true);
        }
    }
}
