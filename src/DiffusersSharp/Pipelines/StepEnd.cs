using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines;

/// <summary>Runs a step-end callback and returns the latents to continue from (the callback's, if it replaced them).</summary>
public static class StepEnd
{
    public static Tensor Invoke(StepEndCallback? callback, int step, int total, Tensor timestep, Tensor latents)
    {
        if (callback is null) return latents;
        var args = new StepEndArgs(step, total, timestep, latents);
        callback(args);
        return ReferenceEquals(args.Latents, latents) ? latents : args.Latents.to(latents.dtype, latents.device);
    }
}
