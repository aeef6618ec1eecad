using DiffusersSharp.Pipelines.StableDiffusion;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.StableDiffusionXL;

/// <summary>
/// The arguments both SDXL pipelines take, named after diffusers' <c>StableDiffusionXLPipeline.__call__</c>: those of
/// every Stable Diffusion pipeline, with SDXL's defaults and meanings, and SDXL's own. Give either
/// <see cref="StableDiffusionInputBase.Prompt"/> or <see cref="StableDiffusionInputBase.PromptEmbeds"/> ([B, 77, D1 + D2],
/// both text encoders' penultimate hidden states concatenated) with <see cref="PooledPromptEmbeds"/>. Without a
/// negative prompt, <c>force_zeros_for_empty_prompt</c> (SDXL's default) makes the unconditional embeddings zeros.
/// <see cref="StableDiffusionInputBase.ClipSkip"/> counts layers before SDXL's penultimate one.
/// </summary>
public abstract record StableDiffusionXLCommonInput : StableDiffusionInputBase
{
    /// <summary>SDXL's guidance scale defaults to 5, diffusers' default for it.</summary>
    protected StableDiffusionXLCommonInput() => GuidanceScale = 5.0;

    /// <summary>Prompts for tokenizer_2 / text_encoder_2, one per prompt; <see cref="StableDiffusionInputBase.Prompt"/> is used when null.</summary>
    public IReadOnlyList<string>? Prompt2 { get; init; }
    /// <summary>Negative prompts for text_encoder_2; <see cref="StableDiffusionInputBase.NegativePrompt"/> is used when null.</summary>
    public IReadOnlyList<string>? NegativePrompt2 { get; init; }
    /// <summary>Fraction in (0, 1) of the schedule to run before stopping early, leaving noise for a refiner to take over.</summary>
    public double? DenoisingEnd { get; init; }
    /// <summary>Initial latents; drawn from the generator (text-to-image) or made from the image (image-to-image) when null.</summary>
    public Tensor? Latents { get; init; }
    /// <summary>[B, projection_dim] projected pooled output of text_encoder_2; required with <see cref="StableDiffusionInputBase.PromptEmbeds"/>.</summary>
    public Tensor? PooledPromptEmbeds { get; init; }
    public Tensor? NegativePooledPromptEmbeds { get; init; }
    /// <summary>SDXL micro-conditioning (Podell et al., 2023, §2.2): the size the image seems to come from; default (height, width).</summary>
    public (int Height, int Width)? OriginalSize { get; init; }
    public (int Top, int Left) CropsCoordsTopLeft { get; init; }
    /// <summary>Default (height, width).</summary>
    public (int Height, int Width)? TargetSize { get; init; }
    public (int Height, int Width)? NegativeOriginalSize { get; init; }
    public (int Top, int Left) NegativeCropsCoordsTopLeft { get; init; }
    public (int Height, int Width)? NegativeTargetSize { get; init; }
}
