using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.StableDiffusionXL;

/// <summary>
/// The arguments of an SDXL image-to-image / refiner call (diffusers' <c>StableDiffusionXLImg2ImgPipeline.__call__</c>).
/// </summary>
public sealed record StableDiffusionXLImg2ImgInput : StableDiffusionXLCommonInput
{
    /// <summary>
    /// The image to start from: uint8 [H, W, 3] as <see cref="Images.ImageIO"/> loads it, float [C, H, W] / [B, C, H, W]
    /// in [0, 1], or latents [B, 4, h, w] (e.g. a base pipeline's <see cref="OutputType.Latent"/> output), used as they are.
    /// </summary>
    public Tensor? Image { get; init; }
    /// <summary>How much of the schedule to run, in [0, 1]: 1 starts from (almost) pure noise. Ignored with <see cref="DenoisingStart"/>.</summary>
    public double Strength { get; init; } = 0.3;
    /// <summary>
    /// Fraction in (0, 1) of the schedule to skip: the image is taken as the partly denoised latents a base pipeline
    /// left with the same <see cref="StableDiffusionXLCommonInput.DenoisingEnd"/>, and no noise is added.
    /// </summary>
    public double? DenoisingStart { get; init; }
    /// <summary>Used in place of the target size when the model index sets <c>requires_aesthetics_score</c> (the SDXL refiner).</summary>
    public double AestheticScore { get; init; } = 6.0;
    public double NegativeAestheticScore { get; init; } = 2.5;

    public StableDiffusionXLImg2ImgInput() { }

    public StableDiffusionXLImg2ImgInput(string prompt, Tensor image)
    {
        Prompt = [prompt];
        Image = image;
    }
}
