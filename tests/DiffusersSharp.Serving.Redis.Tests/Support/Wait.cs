namespace DiffusersSharp.Serving.Redis.Tests.Support;

public static class Wait
{
    /// <summary>The job's events until its final one (bounded, so a broken cluster fails the test instead of hanging it).</summary>
    public static async Task<List<JobEvent>> ForEndAsync(IJobService service, string id, TimeSpan? limit = null)
    {
        using var timeout = new CancellationTokenSource(limit ?? TimeSpan.FromSeconds(60));
        var events = new List<JobEvent>();
        await foreach (var e in service.WatchAsync(id, timeout.Token)) events.Add(e);
        return events;
    }

    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan? limit = null, string what = "the condition")
    {
        var deadline = DateTime.UtcNow + (limit ?? TimeSpan.FromSeconds(30));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out waiting for {what}.");
            await Task.Delay(50);
        }
    }
}
