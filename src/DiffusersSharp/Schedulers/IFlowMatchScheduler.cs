using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>Flow-matching schedulers, whose forward process is <c>scale_noise</c> (σ ε + (1 − σ) x0) instead of add_noise.</summary>
public interface IFlowMatchScheduler
{
    /// <summary>diffusers' <c>scale_noise</c>: the sample at the noise level of <paramref name="timestep"/> (a scalar or one per sample).</summary>
    Tensor ScaleNoise(Tensor sample, Tensor timestep, Tensor noise);
}
