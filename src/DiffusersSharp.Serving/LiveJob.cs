namespace DiffusersSharp.Serving;

/// <summary>A job this process has accepted and not finished: its current state and what stops it.</summary>
internal sealed class LiveJob(JobInfo info, ResolvedRequest request)
{
    public object Lock { get; } = new();

    /// <summary>The state clients see; replaced as a whole under <see cref="Lock"/>.</summary>
    public JobInfo Info { get; set; } = info;

    public ResolvedRequest Request { get; } = request;

    /// <summary>A client cancelled it.</summary>
    public bool CancelRequested { get; set; }

    /// <summary>Cancelled by a client, its timeout or shutdown, while running.</summary>
    public CancellationTokenSource? Running { get; set; }
}
