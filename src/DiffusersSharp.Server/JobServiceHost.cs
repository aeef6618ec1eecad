using DiffusersSharp.Serving;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DiffusersSharp.Server;

/// <summary>
/// Runs the local job service with the web host. It starts in the background (loading the default model can take a
/// while; meanwhile /healthz answers and /readyz says 503) and drains as soon as shutdown begins: no new jobs, running
/// ones finish within the drain timeout, queued ones stay in the store for the next start.
/// </summary>
internal sealed class JobServiceHost(LocalJobService jobs, IHostApplicationLifetime lifetime, ILogger<JobServiceHost> logger) : IHostedService
{
    private Task _start = Task.CompletedTask;
    private Task? _drain;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _start = Task.Run(async () =>
        {
            try
            {
                await jobs.StartAsync(lifetime.ApplicationStopping);
            }
            catch (OperationCanceledException) when (lifetime.ApplicationStopping.IsCancellationRequested)
            {
                // Stopped while starting.
            }
            catch (Exception e)
            {
                logger.LogCritical(e, "The job service failed to start; stopping the server");
                lifetime.StopApplication();
            }
        }, CancellationToken.None);
        lifetime.ApplicationStopping.Register(() => Drain());
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Drain().WaitAsync(cancellationToken);

    private Task Drain() => LazyInitializer.EnsureInitialized(ref _drain, async () =>
    {
        await _start;
        logger.LogInformation("Draining: {Queued} job(s) queued stay for the next start", jobs.QueueDepth);
        await jobs.StopAsync();
    });
}
