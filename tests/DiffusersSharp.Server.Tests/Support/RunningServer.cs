using DiffusersSharp.Client;
using Microsoft.AspNetCore.Builder;

namespace DiffusersSharp.Server.Tests.Support;

/// <summary>
/// The real service on Kestrel at a free loopback port, with a temporary models folder holding the demo model and
/// the tiny test models (tiny-sd the default) and a temporary data folder (kept across a restart when the same <see cref="Folder"/> is passed again).
/// </summary>
public sealed class RunningServer : IAsyncDisposable
{
    private readonly bool _ownsFolder;

    private RunningServer(WebApplication app, string folder, bool ownsFolder)
    {
        App = app;
        Folder = folder;
        _ownsFolder = ownsFolder;
        BaseAddress = new Uri(app.Urls.First().TrimEnd('/') + "/");
        Http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        Client = new DiffusersClient(Http);
    }

    public WebApplication App { get; }
    public string Folder { get; }
    public Uri BaseAddress { get; }
    public HttpClient Http { get; }
    public DiffusersClient Client { get; }
    public string ModelsFolder => Path.Combine(Folder, "models");

    internal static async Task<RunningServer> StartAsync(
        IReadOnlyDictionary<string, string?>? settings = null, Action<WebApplicationBuilder>? configure = null, string? folder = null)
    {
        var ownsFolder = folder is null;
        folder ??= Directory.CreateTempSubdirectory("diffuse-serve-").FullName;
        var models = Path.Combine(folder, "models");
        if (!Directory.Exists(models))
        {
            Directory.CreateDirectory(models);
            foreach (var name in new[] { "demo-shapes", "tiny-sd", "tiny-sd-inpaint" })
                Directory.CreateSymbolicLink(Path.Combine(models, name), Path.Combine(AppContext.BaseDirectory, "fixtures", "models", name));
        }
        var all = new Dictionary<string, string?>
        {
            ["Diffuse:Port"] = "0",
            ["Diffuse:Models"] = models,
            ["Diffuse:DefaultModel"] = "tiny-sd",
            ["Diffuse:DataDir"] = Path.Combine(folder, "data"),
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>()) all[key] = value;
        try
        {
            var app = DiffusersServer.Build([], all, configure);
            await app.StartAsync();
            return new RunningServer(app, folder, ownsFolder);
        }
        catch when (ownsFolder)
        {
            Directory.Delete(folder, recursive: true);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        if (_ownsFolder) Directory.Delete(Folder, recursive: true);
    }
}
