using DiffusersSharp.Serving;
using Microsoft.Extensions.DependencyInjection;

namespace DiffusersSharp.Server.Tests.Support;

/// <summary>The service as deployed, on the tiny model; for tests of the whole stack.</summary>
internal static class ServerUnderTest
{
    public static Task<RunningServer> StartAsync(IReadOnlyDictionary<string, string?>? settings = null, string? folder = null) =>
        RunningServer.StartAsync(settings, builder =>
        {
            builder.Services.AddKeyedSingleton<IJobService>(DiffusersServer.JobBackend, new FakeJobService(stepDelay: TimeSpan.FromMilliseconds(100)));
            builder.Services.AddSingleton<IModelLoader, FakeModelLoader>();
        }, folder);
}
