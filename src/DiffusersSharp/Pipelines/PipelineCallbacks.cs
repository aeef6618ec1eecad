using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines;

/// <summary>
/// What a pipeline hands to its step-end callback (diffusers' <c>callback_on_step_end</c>). Setting
/// <see cref="Latents"/> replaces the latents the next step starts from; the pipeline takes ownership of the new tensor.
/// </summary>
public sealed class StepEndArgs
{
    internal StepEndArgs(int step, int totalSteps, Tensor timestep, Tensor latents)
    {
        Step = step;
        TotalSteps = totalSteps;
        Timestep = timestep;
        Latents = latents;
    }

    public int Step { get; }
    public int TotalSteps { get; }
    public Tensor Timestep { get; }
    public Tensor Latents { get; set; }
}

public delegate void StepEndCallback(StepEndArgs args);
