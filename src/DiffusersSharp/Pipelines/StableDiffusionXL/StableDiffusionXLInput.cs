namespace DiffusersSharp.Pipelines.StableDiffusionXL;

/// <summary>The arguments of an SDXL text-to-image call (diffusers' <c>StableDiffusionXLPipeline.__call__</c>).</summary>
public sealed record StableDiffusionXLInput : StableDiffusionXLCommonInput
{
    /// <summary>Default: the UNet's sample_size × the VAE scale factor (1024 for SDXL).</summary>
    public int? Height { get; init; }
    public int? Width { get; init; }

    public StableDiffusionXLInput() { }

    public StableDiffusionXLInput(string prompt) => Prompt = [prompt];
}
