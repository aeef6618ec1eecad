using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using DiffusersSharp.Client;
using DiffusersSharp.Server.Tests.Support;
using DiffusersSharp.Serving;
using Microsoft.Extensions.DependencyInjection;

namespace DiffusersSharp.Server.Tests;

/// <summary>Every endpoint through real Kestrel and the typed client, over an in-memory job service.</summary>
public sealed class EndpointTests
{
    private static readonly GenerationRequest Small = new() { Prompt = "a red square", NumInferenceSteps = 2, Width = 64, Height = 64, Seed = 1 };

    [Fact]
    public async Task Health_and_readiness_follow_the_job_service()
    {
        using var jobs = new FakeJobService();
        await using var server = await FakeServer.StartAsync(jobs);
        Assert.True(await server.Client.IsHealthyAsync());
        Assert.True(await server.Client.IsReadyAsync());
        jobs.IsReady = false;
        var notReady = await server.Http.GetAsync("readyz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
        Assert.Equal("application/problem+json", notReady.Content.Headers.ContentType?.MediaType);
        Assert.False(await server.Client.IsReadyAsync());
        Assert.True(await server.Client.IsHealthyAsync());
    }

    [Fact]
    public async Task Synchronous_generation_answers_base64_pngs_by_default_and_a_png_when_asked()
    {
        using var jobs = new FakeJobService();
        await using var server = await FakeServer.StartAsync(jobs);

        var json = await server.Client.GenerateAsync(Small with { NumImagesPerPrompt = 2 });
        Assert.Equal(2, json.Data.Count);
        Assert.All(json.Data, d => Assert.Equal((64, 64), Png.Size(Convert.FromBase64String(d.B64Json!))));
        Assert.Equal(JobState.Succeeded, json.Job.State);
        Assert.True(json.Created > 0);

        var png = await server.Client.GeneratePngAsync(Small);
        Assert.Equal((64, 64), Png.Size(png));

        using var message = new HttpRequestMessage(HttpMethod.Post, "v1/images/generations") { Content = JsonContent.Create(Small with { NumImagesPerPrompt = 2 }) };
        message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("image/png"));
        var refused = await server.Http.SendAsync(message);
        Assert.Equal(HttpStatusCode.NotAcceptable, refused.StatusCode);
    }

    [Fact]
    public async Task OpenAI_fields_map_to_diffusers_ones_and_url_format_links_the_job_pictures()
    {
        using var jobs = new FakeJobService();
        await using var server = await FakeServer.StartAsync(jobs);
        var response = await server.Http.PostAsync("v1/images/generations", Json("""{"prompt":"x","n":2,"size":"32x48","response_format":"url","num_inference_steps":2}"""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var data = body.RootElement.GetProperty("data");
        Assert.Equal(2, data.GetArrayLength());
        var url = data[1].GetProperty("url").GetString()!;
        Assert.Equal((32, 48), Png.Size(await server.Http.GetByteArrayAsync(url)));
        var received = Assert.Single(jobs.Received);
        Assert.Equal((32, 48, 2), (received.Width, received.Height, received.NumImagesPerPrompt));
    }

    [Fact]
    public async Task A_job_is_accepted_with_its_location_streams_its_steps_and_serves_its_pictures()
    {
        using var jobs = new FakeJobService { Gate = new TaskCompletionSource() };
        await using var server = await FakeServer.StartAsync(jobs);
        var response = await server.Http.PostAsync("v1/jobs", Json("""{"prompt":"x","num_inference_steps":3,"width":64,"height":64}"""));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = (await response.Content.ReadFromJsonAsync<JobInfo>())!;
        Assert.Equal($"/v1/jobs/{job.Id}", response.Headers.Location?.OriginalString);

        var events = new List<JobEvent>();
        await foreach (var e in server.Client.WatchAsync(job.Id))
        {
            events.Add(e);
            jobs.Gate.TrySetResult();
        }
        Assert.Equal("queued", events[0].Type);
        Assert.Equal("succeeded", events[^1].Type);
        Assert.Equal([1, 2, 3], events.Where(e => e.Type == "step").Select(e => e.Job.Step));
        Assert.All(events.Where(e => e.Type == "step"), e => Assert.Equal(3, e.Job.TotalSteps));

        var done = await server.Client.GetJobAsync(job.Id);
        Assert.Equal(JobState.Succeeded, done.State);
        Assert.NotNull(done.StartedAt);
        Assert.NotNull(done.FinishedAt);
        Assert.Equal((64, 64), Png.Size(await server.Client.GetImageAsync(job.Id, 0)));
        Assert.Equal(HttpStatusCode.NotFound, (await server.Http.GetAsync($"v1/jobs/{job.Id}/images/1")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Http.GetAsync("v1/jobs/nope")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Http.GetAsync("v1/jobs/nope/events")).StatusCode);
    }

    [Fact]
    public async Task The_client_runs_a_job_reporting_progress()
    {
        using var jobs = new FakeJobService(stepDelay: TimeSpan.FromMilliseconds(100));
        await using var server = await FakeServer.StartAsync(jobs);
        var seen = new List<string>();
        var result = await server.Client.RunAsync(Small with { NumInferenceSteps = 3 }, new SynchronousProgress<JobEvent>(e => seen.Add(e.Type)));
        Assert.Equal(JobState.Succeeded, result.Job.State);
        Assert.Single(result.Images);
        Assert.InRange(seen.Count(t => t == "step"), 1, 3);
        Assert.Equal("succeeded", seen[^1]);
    }

    [Fact]
    public async Task Cancelling_a_running_job_stops_it_and_a_second_cancel_conflicts()
    {
        using var jobs = new FakeJobService(stepDelay: TimeSpan.FromMilliseconds(200));
        await using var server = await FakeServer.StartAsync(jobs);
        var job = await server.Client.SubmitAsync(Small with { NumInferenceSteps = 50 });
        await foreach (var e in server.Client.WatchAsync(job.Id))
            if (e.Type == "step") break;
        var cancelled = await server.Client.CancelAsync(job.Id);
        Assert.Equal(JobState.Cancelled, (await WaitForEnd(server.Client, job.Id)).State);
        Assert.True(cancelled.State is JobState.Cancelled or JobState.Running);
        var again = await Assert.ThrowsAsync<DiffusersApiException>(() => server.Client.CancelAsync(job.Id));
        Assert.Equal(HttpStatusCode.Conflict, again.Status);
        var unknown = await Assert.ThrowsAsync<DiffusersApiException>(() => server.Client.CancelAsync("nope"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
    }

    [Fact]
    public async Task An_idempotency_key_returns_the_first_job()
    {
        using var jobs = new FakeJobService();
        await using var server = await FakeServer.StartAsync(jobs);
        var first = await server.Client.SubmitAsync(Small, "key-1");
        var again = await server.Client.SubmitAsync(Small, "key-1");
        var other = await server.Client.SubmitAsync(Small, "key-2");
        Assert.Equal(first.Id, again.Id);
        Assert.NotEqual(first.Id, other.Id);
    }

    [Fact]
    public async Task Models_schedulers_and_loading()
    {
        using var jobs = new FakeJobService();
        await using var server = await FakeServer.StartAsync(jobs);
        var models = await server.Client.ListModelsAsync();
        Assert.Equal(["demo-shapes", "tiny-sd", "tiny-sd-inpaint"], models.Models.Select(m => m.Name));
        Assert.True(models.Models.Single(m => m.Name == "tiny-sd").Default);
        Assert.Equal("StableDiffusionInpaintPipeline", models.Models.Single(m => m.Name == "tiny-sd-inpaint").ClassName);

        var schedulers = await server.Client.ListSchedulersAsync();
        Assert.Contains(schedulers.Aliases, a => a.Name == "dpm++2m-karras" && a.ClassName == "DPMSolverMultistepScheduler" && a.Options["use_karras_sigmas"] == "true");
        Assert.Contains("EulerDiscreteScheduler", schedulers.Classes);

        Assert.Equal("tiny-sd-inpaint", (await server.Client.LoadModelAsync("tiny-sd-inpaint")).Model);
        Assert.Contains("tiny-sd-inpaint", (await server.Client.ListModelsAsync()).Loaded);
        var unknown = await Assert.ThrowsAsync<DiffusersApiException>(() => server.Client.LoadModelAsync("nothing-here"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        var escape = await server.Http.PostAsync("v1/models/..%2F..%2Fetc/load", null);
        Assert.Equal(HttpStatusCode.BadRequest, escape.StatusCode);
    }

    [Fact]
    public async Task A_full_queue_answers_429_with_retry_after()
    {
        using var jobs = new FakeJobService(capacity: 2, stepDelay: TimeSpan.FromSeconds(5));
        await using var server = await FakeServer.StartAsync(jobs);
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? refused = null;
        for (var i = 0; i < 5; i++)
        {
            var response = await server.Http.PostAsync("v1/jobs", Json("""{"prompt":"x"}"""));
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) refused = response;
        }
        Assert.Contains(HttpStatusCode.Accepted, statuses);
        Assert.NotNull(refused);
        Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Unknown_routes_and_server_errors_are_problem_details_without_stack_traces()
    {
        using var jobs = new FakeJobService();
        await using var server = await FakeServer.StartAsync(jobs);
        var missing = await server.Http.GetAsync("v1/nothing");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("application/problem+json", missing.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await server.Http.PutAsync("v1/jobs", Json("{}"))).StatusCode);
    }

    [Fact]
    public async Task A_failed_generation_is_a_500_with_the_jobs_one_line_error_and_the_job_shows_it()
    {
        using var jobs = new FakeJobService();
        await using var server = await FakeServer.StartAsync(jobs);
        var failing = Small with { Prompt = FakeJobService.FailingPrompt };
        var sync = await Assert.ThrowsAsync<DiffusersApiException>(() => server.Client.GenerateAsync(failing));
        Assert.Equal(HttpStatusCode.InternalServerError, sync.Status);
        Assert.Equal("The generation failed: out of memory, also with attention slicing and VAE tiling", sync.Detail);

        var job = await server.Client.SubmitAsync(failing);
        var ended = await WaitForEnd(server.Client, job.Id);
        Assert.Equal(JobState.Failed, ended.State);
        Assert.Equal("out of memory, also with attention slicing and VAE tiling", (await server.Client.GetJobAsync(job.Id)).Error);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Http.GetAsync($"v1/jobs/{job.Id}/images/0")).StatusCode);
    }

    [Fact]
    public async Task Draining_refuses_new_work_with_503_and_fails_readiness()
    {
        using var jobs = new FakeJobService();
        await using var server = await FakeServer.StartAsync(jobs);
        server.App.Services.GetRequiredService<DrainState>().Begin();
        var refused = await server.Http.PostAsync("v1/jobs", Json("""{"prompt":"x"}"""));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await server.Http.GetAsync("readyz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync("healthz")).StatusCode);
    }

    [Fact]
    public async Task The_playground_page_is_served_at_the_root()
    {
        using var jobs = new FakeJobService();
        await using var server = await FakeServer.StartAsync(jobs);
        var page = await server.Http.GetAsync("/");
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("/v1/jobs", await page.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Responses_carry_a_request_id()
    {
        using var jobs = new FakeJobService();
        await using var server = await FakeServer.StartAsync(jobs);
        var response = await server.Http.GetAsync("healthz");
        Assert.False(string.IsNullOrEmpty(response.Headers.GetValues("X-Request-Id").Single()));
    }

    internal static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    internal static async Task<JobInfo> WaitForEnd(DiffusersClient client, string id)
    {
        JobInfo job = await client.GetJobAsync(id);
        await foreach (var e in client.WatchAsync(id)) job = e.Job;
        return job;
    }

    /// <summary>Reports on the calling thread, so the test sees every event before it asserts.</summary>
    internal sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
