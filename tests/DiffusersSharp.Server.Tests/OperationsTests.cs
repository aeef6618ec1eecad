using System.Net;
using System.Text.Json;
using DiffusersSharp.Server.Tests.Support;
using DiffusersSharp.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace DiffusersSharp.Server.Tests;

/// <summary>What operators see: the OpenAPI document, Prometheus metrics and the JSON logs with request ids.</summary>
public sealed class OperationsTests
{
    [Fact]
    public async Task The_OpenAPI_document_lists_exactly_the_api_endpoints_with_snake_case_schemas()
    {
        using var jobs = new FakeJobService();
        await using var server = await FakeServer.StartAsync(jobs);
        using var document = JsonDocument.Parse(await server.Http.GetStringAsync("openapi/v1.json"));
        var documented = document.RootElement.GetProperty("paths").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject().Select(m => $"{m.Name.ToUpperInvariant()} {p.Name}"))
            .Order().ToList();

        var mapped = server.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>() is not { ExcludeFromDescription: true })
            .Where(e => e.Metadata.GetMetadata<IHttpMethodMetadata>() is not null)
            .Where(e => e.RoutePattern.RawText is not ("/metrics" or "/openapi/{documentName}.json"))
            .SelectMany(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()!.HttpMethods.Select(m => $"{m} {Normalize(e.RoutePattern.RawText!)}"))
            .Order().ToList();

        Assert.Equal(mapped, documented);
        Assert.Contains("POST /v1/images/generations", documented);
        Assert.Contains("GET /v1/jobs/{id}/events", documented);
        var schemas = document.RootElement.GetProperty("components").GetProperty("schemas");
        var request = schemas.GetProperty("GenerationRequest").GetProperty("properties");
        Assert.True(request.TryGetProperty("num_inference_steps", out _));
        Assert.True(request.TryGetProperty("negative_prompt", out _));
        Assert.True(schemas.GetProperty("JobInfo").GetProperty("properties").TryGetProperty("total_steps", out _));
    }

    [Fact]
    public async Task Metrics_show_requests_steps_queue_and_process_memory()
    {
        using var jobs = new FakeJobService(stepDelay: TimeSpan.FromMilliseconds(20)) { Gate = new TaskCompletionSource() };
        await using var server = await FakeServer.StartAsync(jobs);
        var job = await server.Client.SubmitAsync(new GenerationRequest { Prompt = "x", NumInferenceSteps = 3, Width = 64, Height = 64 });
        var queued = await server.Http.GetStringAsync("metrics");
        Assert.Contains("diffuse_queue_depth 1", queued);
        jobs.Gate.SetResult();
        await EndpointTests.WaitForEnd(server.Client, job.Id);
        await server.Http.PostAsync("v1/jobs", EndpointTests.Json("""{"prompt": "x", "num_inference_steps": 0}"""));

        var text = await PollMetrics(server, "diffuse_step_duration_seconds_count{pipeline=\"tiny-sd\"} 3");
        Assert.Contains("diffuse_requests_total{pipeline=\"tiny-sd\",status=\"invalid\"} 1", text);
        Assert.Contains("diffuse_jobs_in_progress 0", text);
        Assert.Contains("diffuse_queue_depth 0", text);
        Assert.Contains("diffuse_step_duration_seconds_bucket{pipeline=\"tiny-sd\",le=", text);
        foreach (var name in new[] { "diffuse_generation_duration_seconds", "diffuse_model_cache_hits_total", "diffuse_model_cache_misses_total",
                     "diffuse_model_cache_evictions_total", "diffuse_model_cache_bytes", "diffuse_memory_fallbacks_total",
                     "process_working_set_bytes", "http_requests_received_total" })
            Assert.Contains("# TYPE " + name, text);
    }

    [Fact]
    public async Task Every_log_line_of_a_request_carries_its_request_id_and_the_console_writes_json()
    {
        var capture = new CapturingLoggerProvider();
        using var jobs = new FakeJobService();
        await using var server = await RunningServer.StartAsync(new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Information" }, builder =>
        {
            builder.Services.AddKeyedSingleton<IJobService>(DiffusersServer.JobBackend, jobs);
            builder.Services.AddSingleton<IModelLoader, FakeModelLoader>();
            builder.Logging.AddProvider(capture);
        });
        var response = await server.Http.PostAsync("v1/jobs", EndpointTests.Json("""{"prompt": "x", "num_inference_steps": 2}"""));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var requestId = response.Headers.GetValues("X-Request-Id").Single();
        await Task.Delay(200);

        var lines = capture.Lines.Where(l => l.Scopes.Contains($"RequestId={requestId}")).ToList();
        Assert.Contains(lines, l => l.Message.Contains("accepted", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Category.StartsWith("Microsoft.AspNetCore.Hosting", StringComparison.Ordinal));
        var ours = capture.Lines.Where(l => l.Category.StartsWith("DiffusersSharp.Server", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(ours);
        Assert.All(ours, l => Assert.Contains(l.Scopes, s => s.StartsWith("RequestId=", StringComparison.Ordinal)));

        var console = server.App.Services.GetRequiredService<IOptions<ConsoleLoggerOptions>>().Value;
        Assert.Equal(ConsoleFormatterNames.Json, console.FormatterName);
        Assert.True(server.App.Services.GetRequiredService<IOptionsMonitor<JsonConsoleFormatterOptions>>().CurrentValue.IncludeScopes);
    }

    private static string Normalize(string route) =>
        System.Text.RegularExpressions.Regex.Replace(route, @"\{(\w+):\w+\}", "{$1}");

    private static async Task<string> PollMetrics(RunningServer server, string expected)
    {
        var text = "";
        for (var i = 0; i < 50 && !text.Contains(expected, StringComparison.Ordinal); i++)
        {
            text = await server.Http.GetStringAsync("metrics");
            if (!text.Contains(expected, StringComparison.Ordinal)) await Task.Delay(100);
        }
        Assert.Contains(expected, text);
        return text;
    }
}
