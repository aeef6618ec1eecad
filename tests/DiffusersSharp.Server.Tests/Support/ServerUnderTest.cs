namespace DiffusersSharp.Server.Tests.Support;

/// <summary>The service as deployed (the serving library's LocalJobService with its SQLite store) on the tiny model.</summary>
internal static class ServerUnderTest
{
    public static async Task<RunningServer> StartAsync(IReadOnlyDictionary<string, string?>? settings = null, string? folder = null,
        Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder>? configure = null)
    {
        var server = await RunningServer.StartAsync(settings, configure, folder);
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!await server.Client.IsReadyAsync())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The server did not become ready (default model loaded, workers running) within 2 minutes.");
            await Task.Delay(50);
        }
        return server;
    }
}
