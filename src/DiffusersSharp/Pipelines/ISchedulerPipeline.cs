using DiffusersSharp.Schedulers;

namespace DiffusersSharp.Pipelines;

/// <summary>A pipeline that denoises with a swappable scheduler (diffusers' <c>pipe.scheduler</c>).</summary>
public interface ISchedulerPipeline
{
    SchedulerMixin Scheduler { get; }

    /// <summary>Replaces the scheduler (the old one is disposed), as assigning <c>pipe.scheduler</c> does in diffusers.</summary>
    void SetScheduler(SchedulerMixin scheduler);
}
