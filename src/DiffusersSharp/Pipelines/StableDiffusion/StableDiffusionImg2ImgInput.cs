using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.StableDiffusion;

/// <summary>The arguments of a Stable Diffusion image-to-image call (diffusers' <c>StableDiffusionImg2ImgPipeline.__call__</c>).</summary>
public sealed record StableDiffusionImg2ImgInput : StableDiffusionInputBase
{
    /// <summary>
    /// The starting image: uint8 [H, W, 3] as <see cref="Images.ImageIO.LoadRgb"/> gives (resized with Pillow's Lanczos
    /// to a multiple of 8 if needed), float [3, H, W] / [B, 3, H, W] in [0, 1], or latents [B, 4, h, w] (used as they are).
    /// The output has its size.
    /// </summary>
    public Tensor? Image { get; init; }
    /// <summary>How much to change the image, in [0, 1]: the last <c>strength · NumInferenceSteps</c> steps run from it noised to that level.</summary>
    public double Strength { get; init; } = 0.8;

    public StableDiffusionImg2ImgInput() { }

    public StableDiffusionImg2ImgInput(string prompt, Tensor image)
    {
        Prompt = [prompt];
        Image = image;
    }
}
