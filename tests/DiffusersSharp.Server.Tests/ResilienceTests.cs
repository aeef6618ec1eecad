using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using DiffusersSharp.Server.Tests.Support;
using DiffusersSharp.Serving;
using Microsoft.Extensions.DependencyInjection;

namespace DiffusersSharp.Server.Tests;

/// <summary>Restart with queued and finished jobs, graceful drain, and a bounded load run against the whole service.
/// Alone in their collection, so the memory measured is the load run's.</summary>
[Collection(nameof(ResilienceTests))]
public sealed class ResilienceTests
{
    private static readonly GenerationRequest Tiny = new() { Prompt = "a red cube", NumInferenceSteps = 2, Width = 64, Height = 64 };

    [Fact]
    public async Task A_restart_keeps_finished_jobs_finishes_the_running_one_and_resumes_the_queued_ones()
    {
        var folder = Directory.CreateTempSubdirectory("diffuse-restart-").FullName;
        var settings = new Dictionary<string, string?>
        {
            ["Diffuse:Workers"] = "1",
            ["Diffuse:Batch"] = "1",
            ["Diffuse:DrainTimeout"] = "00:00:20",
        };
        using var holding = new HoldingFaultInjector();
        try
        {
            string finished, running;
            byte[] finishedPicture;
            var queued = new List<string>();
            await using (var first = await ServerUnderTest.StartAsync(settings, folder, b => b.Services.AddSingleton<IGenerationFaultInjector>(holding)))
            {
                var done = await first.Client.RunAsync(Tiny with { Seed = 11 });
                (finished, finishedPicture) = (done.Job.Id, done.Images[0]);
                // The one worker is held inside this job, so the next ones stay queued until shutdown.
                running = (await first.Client.SubmitAsync(Tiny with { Prompt = HoldingFaultInjector.UntilReleased, Seed = 12 })).Id;
                while ((await first.Client.GetJobAsync(running)).State != JobState.Running) await Task.Delay(20);
                for (var seed = 13; seed < 15; seed++)
                    queued.Add((await first.Client.SubmitAsync(Tiny with { Prompt = HoldingFaultInjector.UntilStopped, Seed = seed })).Id);
                Assert.All(queued, id => Assert.Equal(JobState.Queued, first.Client.GetJobAsync(id).Result.State));

                // Shutdown begins (no new jobs); only then may the running job go on, and it finishes within the drain.
                var jobs = first.App.Services.GetRequiredService<LocalJobService>();
                var stopping = first.App.StopAsync();
                while (jobs.IsReady) await Task.Delay(10);
                holding.Release();
                await stopping;
            }

            await using var second = await ServerUnderTest.StartAsync(settings, folder);
            var kept = await second.Client.GetJobAsync(finished);
            Assert.Equal(JobState.Succeeded, kept.State);
            Assert.Equal(finishedPicture, await second.Client.GetImageAsync(finished, 0));
            var drained = await second.Client.GetJobAsync(running);
            Assert.Equal(JobState.Succeeded, drained.State);
            Assert.Equal((64, 64), Png.Size(await second.Client.GetImageAsync(running, 0)));
            foreach (var id in queued)
            {
                var resumed = await EndpointTests.WaitForEnd(second.Client, id);
                Assert.Equal(JobState.Succeeded, resumed.State);
                Assert.Equal((64, 64), Png.Size(await second.Client.GetImageAsync(id, 0)));
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Under_load_every_accepted_request_completes_the_rest_get_429_and_memory_stays_flat()
    {
        const int clients = 50, requests = 500, warmUp = 100;
        await using var server = await ServerUnderTest.StartAsync(new Dictionary<string, string?>
        {
            ["Diffuse:Queue"] = "16",
            ["Diffuse:Workers"] = "1",
            ["Diffuse:Batch"] = "4",
            ["Diffuse:RequestsPerMinute"] = "0",
        });
        var statuses = new ConcurrentBag<HttpStatusCode>();
        var problems = new ConcurrentBag<string>();
        var next = 0;

        async Task Run(int upTo)
        {
            await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
            {
                while (Interlocked.Increment(ref next) is var i && i <= upTo)
                {
                    // 40 distinct seeds: most repeats come from the result cache, the first ones queue up and overflow.
                    var body = JsonSerializer.Serialize(Tiny with { NumInferenceSteps = 1, Seed = i % 40 });
                    using var response = await server.Http.PostAsync("v1/images/generations", new StringContent(body, Encoding.UTF8, "application/json"));
                    statuses.Add(response.StatusCode);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                        var png = Convert.FromBase64String(json.RootElement.GetProperty("data")[0].GetProperty("b64_json").GetString()!);
                        if (!png.AsSpan(1, 3).SequenceEqual("PNG"u8)) problems.Add($"request {i}: not a PNG");
                    }
                    else if (response.StatusCode == HttpStatusCode.TooManyRequests && response.Headers.RetryAfter?.Delta is null)
                        problems.Add($"request {i}: 429 without Retry-After");
                }
            })));
            Interlocked.Exchange(ref next, upTo);
        }

        await Run(warmUp);
        var (managedBefore, nativeBefore) = Memory();
        await Run(requests);
        var (managedAfter, nativeAfter) = Memory();

        Assert.Empty(problems);
        Assert.Equal(requests, statuses.Count);
        Assert.All(statuses, s => Assert.True(s is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, $"unexpected {(int)s}"));
        var refused = statuses.Count(s => s == HttpStatusCode.TooManyRequests);
        Assert.InRange(refused, 1, requests - 1);
        var metrics = await server.Http.GetStringAsync("metrics");
        Assert.Contains($"diffuse_requests_total{{pipeline=\"tiny-sd\",status=\"queue_full\"}} {refused}", metrics);
        Assert.True(managedAfter - managedBefore < 64L << 20, $"managed heap grew {(managedAfter - managedBefore) >> 20} MiB over {requests - warmUp} requests");
        Assert.True(nativeAfter - nativeBefore < 256L << 20, $"working set grew {(nativeAfter - nativeBefore) >> 20} MiB over {requests - warmUp} requests");
        Assert.True(await server.Client.IsReadyAsync());
    }

    private static (long Managed, long WorkingSet) Memory()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var process = Process.GetCurrentProcess();
        return (GC.GetTotalMemory(forceFullCollection: true), process.WorkingSet64);
    }
}
