using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// What <see cref="SchedulerMixin.Step"/> returns: the sample for the next timestep and, where the scheduler computes
/// one, its prediction of the denoised sample. Both tensors belong to the caller, who disposes them.
/// </summary>
public sealed record SchedulerOutput(Tensor PrevSample, Tensor? PredOriginalSample);
