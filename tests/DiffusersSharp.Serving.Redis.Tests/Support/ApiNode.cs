using DiffusersSharp.Client;
using DiffusersSharp.Server;
using Microsoft.AspNetCore.Builder;

namespace DiffusersSharp.Serving.Redis.Tests.Support;

/// <summary>The real HTTP service as an API-only node of a Redis cluster (no workers of its own), on a free loopback port.</summary>
public sealed class ApiNode : IAsyncDisposable
{
    private ApiNode(WebApplication app)
    {
        App = app;
        Http = new HttpClient { BaseAddress = new Uri(app.Urls.First().TrimEnd('/') + "/"), Timeout = TimeSpan.FromMinutes(2) };
        Client = new DiffusersClient(Http);
    }

    public WebApplication App { get; }

    public HttpClient Http { get; }

    public DiffusersClient Client { get; }

    public static async Task<ApiNode> StartAsync(RedisServingOptions options, int queue = 16)
    {
        var app = DiffusersServer.Build([], new Dictionary<string, string?>
        {
            ["Diffuse:Port"] = "0",
            ["Diffuse:Models"] = WorkerProcess.ModelsDirectory,
            ["Diffuse:DefaultModel"] = "tiny-sd",
            ["Diffuse:Workers"] = "0",
            ["Diffuse:Queue"] = queue.ToString(),
            ["Diffuse:RequestsPerMinute"] = "0",
            ["Diffuse:Redis:Configuration"] = options.Configuration,
            ["Diffuse:Redis:KeyPrefix"] = options.KeyPrefix,
            ["Diffuse:Redis:CommandTimeout"] = "00:00:02",
            ["Logging:LogLevel:Default"] = "Warning",
        });
        await app.StartAsync();
        return new ApiNode(app);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
