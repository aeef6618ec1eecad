namespace DiffusersSharp.Serving.Tests.Support;

internal static class Jobs
{
    /// <summary>Watches a job to its end and returns how it ended (fails the test after a minute instead of hanging).</summary>
    public static async Task<JobInfo> FinishedAsync(IJobService service, string id)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        JobInfo? last = null;
        await foreach (var e in service.WatchAsync(id, timeout.Token)) last = e.Job;
        return last ?? throw new InvalidOperationException($"No job {id}.");
    }

    /// <summary>Waits for the first event of a job that matches.</summary>
    public static async Task<JobEvent> EventAsync(IJobService service, string id, Func<JobEvent, bool> match)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await foreach (var e in service.WatchAsync(id, timeout.Token))
            if (match(e)) return e;
        throw new InvalidOperationException($"Job {id} ended without the awaited event.");
    }

    public static async Task<LocalJobService> StartedAsync(ServingOptions options, PipelineManager? manager = null)
    {
        var service = new LocalJobService(options, manager: manager);
        await service.StartAsync();
        return service;
    }
}
