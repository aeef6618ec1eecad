using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DiffusersSharp.Loading;
using DiffusersSharp.Runtime;
using DiffusersSharp.Server;
using DiffusersSharp.ServeBench;
using DiffusersSharp.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

// The service under load on the tiny model (see bench/README.md): throughput and latency of a bounded load run, the
// service's overhead per request over a direct library call, and requests per second with batching on and off.
var quick = args.Contains("--quick");
var jsonPath = args.SkipWhile(a => a != "--json").Skip(1).FirstOrDefault() ?? "serve-bench-results.json";
NativeRuntime.EnsureLoaded();
var tiny = TinyModel() ?? throw new InvalidOperationException("Run from inside the repository: tests/fixtures/models/tiny-sd not found.");
var work = Directory.CreateTempSubdirectory("diffuse-serve-bench-").FullName;
var models = Path.Combine(work, "models");
Directory.CreateDirectory(models);
Directory.CreateSymbolicLink(Path.Combine(models, "tiny-sd"), Path.GetFullPath(tiny));

// 64×64, 2 Euler steps: the service's own costs weigh as much as they ever will.
GenerationRequest Request(long seed) => new() { Prompt = "a red cube", NumInferenceSteps = 2, Width = 64, Height = 64, Scheduler = "euler", Seed = seed };

async Task<(WebApplication App, HttpClient Http)> Start(string name, Dictionary<string, string?> settings)
{
    var all = new Dictionary<string, string?>
    {
        ["Diffuse:Port"] = "0", ["Diffuse:Models"] = models, ["Diffuse:DefaultModel"] = "tiny-sd",
        ["Diffuse:DataDir"] = Path.Combine(work, "data-" + name), ["Diffuse:RequestsPerMinute"] = "0",
        ["Logging:LogLevel:Default"] = "Warning",
    };
    foreach (var (k, v) in settings) all[k] = v;
    var app = DiffusersServer.Build([], all);
    await app.StartAsync();
    var http = new HttpClient { BaseAddress = new Uri(app.Urls.First() + "/"), Timeout = TimeSpan.FromMinutes(5) };
    while (!(await http.GetAsync("readyz")).IsSuccessStatusCode) await Task.Delay(50);
    return (app, http);
}

var report = new Dictionary<string, object>
{
    ["date"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
    ["cores"] = Environment.ProcessorCount,
    ["load_average_before"] = File.ReadAllText("/proc/loadavg").Split(' ')[0],
};

// 1. The issue's load run: 50 clients, 500 requests, queue 16; seeds repeat so the result cache answers most.
var (loadRequests, loadClients) = quick ? (200, 50) : (500, 50);
{
    var (app, http) = await Start("load", new() { ["Diffuse:Queue"] = "16", ["Diffuse:Batch"] = "4" });
    await LoadRun.RunAsync(http, 4, 20, i => Request(i % 40));
    var r = await LoadRun.RunAsync(http, loadClients, loadRequests, i => Request(i % 40));
    report["load"] = Summary(r);
    Console.Error.WriteLine($"load run: {r.Accepted} accepted, {r.Refused} refused (429), {r.Errors} errors, {r.Throughput:F1} req/s");
    await app.DisposeAsync();
}

// 2. Overhead: the same request one at a time through HTTP (result cache off) and as a direct PipelineManager call;
//    also each request's time outside its job's own run (HTTP, JSON, validation, queue hand-off, store, base64).
var rounds = quick ? 15 : 40;
{
    var (app, http) = await Start("overhead", new() { ["Diffuse:ResultCacheBytes"] = "0", ["Diffuse:Batch"] = "1" });
    var manager = app.Services.GetRequiredService<LocalJobService>().Manager;
    var service = new List<double>();
    var direct = new List<double>();
    var outside = new List<double>();
    for (var i = 0; i < rounds + 3; i++)
    {
        // Interleaved, so that a busy moment of the machine hits both.
        var (latency, runMs) = await TimedRequest(http, Request(7));
        var started = Stopwatch.GetTimestamp();
        await manager.GenerateAsync(Request(7));
        var d = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (i < 3) continue;
        service.Add(latency);
        direct.Add(d);
        outside.Add(latency - runMs);
    }
    report["overhead"] = new Dictionary<string, double>
    {
        ["service_p50_ms"] = LoadRun.Percentile(service, 50), ["direct_p50_ms"] = LoadRun.Percentile(direct, 50),
        ["overhead_p50_ms"] = LoadRun.Percentile(service, 50) - LoadRun.Percentile(direct, 50),
        ["outside_job_p50_ms"] = LoadRun.Percentile(outside, 50), ["outside_job_p95_ms"] = LoadRun.Percentile(outside, 95),
        ["service_p95_ms"] = LoadRun.Percentile(service, 95), ["direct_p95_ms"] = LoadRun.Percentile(direct, 95),
    };
    Console.Error.WriteLine($"overhead: service p50 {LoadRun.Percentile(service, 50):F1} ms, direct p50 {LoadRun.Percentile(direct, 50):F1} ms");
    await app.DisposeAsync();
}

// 3. Batching: distinct seeds (no cache hits), 8 clients, a queue that never refuses; batch 4 against batch 1.
var batchRequests = quick ? 32 : 96;
foreach (var batch in new[] { 1, 4 })
{
    var (app, http) = await Start("batch" + batch, new() { ["Diffuse:Batch"] = batch.ToString(CultureInfo.InvariantCulture), ["Diffuse:Queue"] = "256", ["Diffuse:ResultCacheBytes"] = "0" });
    await LoadRun.RunAsync(http, 4, 8, i => Request(100_000 + i));
    var r = await LoadRun.RunAsync(http, 8, batchRequests, i => Request(batch * 1_000_000 + i));
    report[$"batch_{batch}"] = Summary(r);
    Console.Error.WriteLine($"batch {batch}: {r.Throughput:F2} req/s");
    await app.DisposeAsync();
}

Directory.Delete(work, recursive: true);
report["load_average_after"] = File.ReadAllText("/proc/loadavg").Split(' ')[0];
File.WriteAllText(jsonPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));

var load = (Dictionary<string, double>)report["load"];
var over = (Dictionary<string, double>)report["overhead"];
var b1 = (Dictionary<string, double>)report["batch_1"];
var b4 = (Dictionary<string, double>)report["batch_4"];
Console.WriteLine($"| measure | value |");
Console.WriteLine($"|---|---|");
Console.WriteLine($"| load run: requests / clients / queue | {loadRequests} / {loadClients} / 16 |");
Console.WriteLine($"| accepted / refused (429) / other errors | {load["accepted"]} / {load["refused"]} / {load["errors"]} |");
Console.WriteLine($"| throughput (accepted req/s) | {load["throughput_rps"]:F1} |");
Console.WriteLine($"| latency p50 / p95 / p99 (ms) | {load["p50_ms"]:F1} / {load["p95_ms"]:F1} / {load["p99_ms"]:F1} |");
Console.WriteLine($"| one request: service p50 / direct call p50 (ms) | {over["service_p50_ms"]:F1} / {over["direct_p50_ms"]:F1} |");
Console.WriteLine($"| difference of the two p50s (ms) | {over["overhead_p50_ms"]:F2} |");
Console.WriteLine($"| time outside the job's own run, p50 / p95 (ms) | {over["outside_job_p50_ms"]:F2} / {over["outside_job_p95_ms"]:F2} |");
Console.WriteLine($"| batching off / on (req/s, 8 clients) | {b1["throughput_rps"]:F2} / {b4["throughput_rps"]:F2} ({b4["throughput_rps"] / b1["throughput_rps"]:F2}×) |");
return 0;

// One synchronous request: its end-to-end latency, and how long the job itself ran (its started_at → finished_at).
static async Task<(double LatencyMs, double RunMs)> TimedRequest(HttpClient http, GenerationRequest request)
{
    var body = new StringContent(JsonSerializer.Serialize(request), System.Text.Encoding.UTF8, "application/json");
    var started = Stopwatch.GetTimestamp();
    using var response = await http.PostAsync("v1/images/generations", body);
    var text = await response.Content.ReadAsStringAsync();
    var latency = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    response.EnsureSuccessStatusCode();
    using var json = JsonDocument.Parse(text);
    var job = json.RootElement.GetProperty("job");
    var run = job.GetProperty("finished_at").GetDateTimeOffset() - job.GetProperty("started_at").GetDateTimeOffset();
    return (latency, run.TotalMilliseconds);
}

static string? TinyModel()
{
    for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        if (BundledModels.IsModelFolder(Path.Combine(dir.FullName, "tests", "fixtures", "models", "tiny-sd")))
            return Path.Combine(dir.FullName, "tests", "fixtures", "models", "tiny-sd");
    return null;
}

static Dictionary<string, double> Summary(LoadResult r) => new()
{
    ["requests"] = r.Requests, ["accepted"] = r.Accepted, ["refused"] = r.Refused, ["errors"] = r.Errors,
    ["seconds"] = r.Seconds, ["throughput_rps"] = r.Throughput,
    ["p50_ms"] = r.Percentile(50), ["p95_ms"] = r.Percentile(95), ["p99_ms"] = r.Percentile(99),
};
