using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.StableDiffusion;

/// <summary>The arguments of a Stable Diffusion text-to-image call (diffusers' <c>StableDiffusionPipeline.__call__</c>).</summary>
public sealed record StableDiffusionInput : StableDiffusionInputBase
{
    public int? Height { get; init; }
    public int? Width { get; init; }
    /// <summary>Initial latents [B·K, C, H/8, W/8]; drawn from the generator when null.</summary>
    public Tensor? Latents { get; init; }

    public StableDiffusionInput() { }

    public StableDiffusionInput(string prompt) => Prompt = [prompt];
}
