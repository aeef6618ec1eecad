using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using DiffusersSharp.Client;
using DiffusersSharp.Server.Tests.Support;
using DiffusersSharp.Serving;

namespace DiffusersSharp.Server.Tests;

/// <summary>The whole service on the tiny model: real generations, progress, cancellation, warm-up.</summary>
public sealed class ServiceTests
{
    private static readonly GenerationRequest Tiny = new() { Prompt = "a red cube", NumInferenceSteps = 2, Width = 64, Height = 64, Seed = 3 };

    [Fact]
    public async Task Generates_with_the_tiny_model_synchronously_and_as_a_job()
    {
        await using var server = await ServerUnderTest.StartAsync();
        var json = await server.Client.GenerateAsync(Tiny);
        var png = Convert.FromBase64String(Assert.Single(json.Data).B64Json!);
        Assert.Equal((64, 64), Png.Size(png));

        var direct = await server.Client.GeneratePngAsync(Tiny with { Seed = 4 });
        Assert.Equal((64, 64), Png.Size(direct));
        Assert.NotEqual(png, direct);

        var events = new List<JobEvent>();
        var result = await server.Client.RunAsync(Tiny with { Seed = 5, NumInferenceSteps = 4 }, new EndpointTests.SynchronousProgress<JobEvent>(events.Add));
        Assert.Equal(JobState.Succeeded, result.Job.State);
        Assert.Equal((64, 64), Png.Size(Assert.Single(result.Images)));
        Assert.Equal("succeeded", events[^1].Type);
        Assert.NotNull(result.Job.StartedAt);

        // A seeded repeat is the same picture (from the result cache or not).
        var again = await server.Client.GenerateAsync(Tiny);
        Assert.Equal(png, Convert.FromBase64String(again.Data[0].B64Json!));

        var models = await server.Client.ListModelsAsync();
        Assert.Contains("tiny-sd", models.Loaded);
        Assert.Equal("tiny-sd-inpaint", (await server.Client.LoadModelAsync("tiny-sd-inpaint")).Model);
        Assert.Contains("tiny-sd-inpaint", (await server.Client.ListModelsAsync()).Loaded);
    }

    [Fact]
    public async Task Cancelling_mid_generation_stops_the_job_within_a_step()
    {
        await using var server = await ServerUnderTest.StartAsync();
        var job = await server.Client.SubmitAsync(Tiny with { NumInferenceSteps = 150, Width = 256, Height = 256, Seed = null });
        JobInfo? running = null;
        await foreach (var e in server.Client.WatchAsync(job.Id))
        {
            if (e.Type == "step" && e.Job.Step >= 2)
            {
                running = e.Job;
                break;
            }
        }
        Assert.NotNull(running);
        await server.Client.CancelAsync(job.Id);
        var ended = await EndpointTests.WaitForEnd(server.Client, job.Id);
        Assert.Equal(JobState.Cancelled, ended.State);
        Assert.True(ended.Step < ended.TotalSteps, $"stopped at step {ended.Step} of {ended.TotalSteps}");
        var noPicture = await Assert.ThrowsAsync<DiffusersApiException>(() => server.Client.GetImageAsync(job.Id, 0));
        Assert.Equal(HttpStatusCode.NotFound, noPicture.Status);
        Assert.True(await server.Client.IsReadyAsync());
    }
}
