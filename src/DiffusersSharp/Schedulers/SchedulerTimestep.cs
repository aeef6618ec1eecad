using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// A timestep as <see cref="SchedulerMixin.Step"/> and <see cref="SchedulerMixin.ScaleModelInput"/> take it: the tensor
/// and, where the caller knows it, its value on the host. Schedulers index host tables with the value, so a step given
/// one reads nothing back from the device; the denoising loop passes the scheduler's own host copy
/// (<see cref="SchedulerMixin.TimestepAt"/>). A bare tensor converts implicitly; its value is then read when a scheduler
/// needs it, as diffusers does.
/// </summary>
/// <param name="Tensor">The timestep tensor (0-d or one element).</param>
/// <param name="Value">Its value, if known on the host.</param>
public readonly record struct SchedulerTimestep(Tensor Tensor, double? Value = null)
{
    public static implicit operator SchedulerTimestep(Tensor tensor) => new(tensor);
}
