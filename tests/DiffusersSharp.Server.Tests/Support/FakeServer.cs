using DiffusersSharp.Serving;
using Microsoft.Extensions.DependencyInjection;

namespace DiffusersSharp.Server.Tests.Support;

/// <summary>Starts the real HTTP stack over a <see cref="FakeJobService"/>, for tests of the HTTP layer alone.</summary>
internal static class FakeServer
{
    public static Task<RunningServer> StartAsync(FakeJobService jobs, IReadOnlyDictionary<string, string?>? settings = null) =>
        RunningServer.StartAsync(settings, builder =>
        {
            builder.Services.AddSingleton<IJobService>(jobs);
            builder.Services.AddSingleton<IModelLoader, FakeModelLoader>();
        });
}
