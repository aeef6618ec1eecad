using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.StableDiffusion;

/// <summary>The arguments of a Stable Diffusion inpainting call (diffusers' <c>StableDiffusionInpaintPipeline.__call__</c>).</summary>
/// <remarks>diffusers' <c>padding_mask_crop</c> (inpaint a crop around the mask, then paste it back) is not implemented.</remarks>
public sealed record StableDiffusionInpaintInput : StableDiffusionInputBase
{
    /// <summary>
    /// The image to repaint: uint8 [H, W, 3] as <see cref="Images.ImageIO.LoadRgb"/> gives, float [3, H, W] /
    /// [B, 3, H, W] in [0, 1], or latents [B, 4, h, w]. Resized to <see cref="Height"/> × <see cref="Width"/>.
    /// </summary>
    public Tensor? Image { get; init; }
    /// <summary>
    /// Where to repaint: white (≥ 0.5) is repainted, black kept. uint8 [H, W] as <see cref="Images.ImageIO.LoadGray"/>
    /// gives (or [H, W, 3], made grayscale), or float [1, H, W] / [B, 1, H, W] / [B, H, W] in [0, 1]; resized like the image.
    /// </summary>
    public Tensor? MaskImage { get; init; }
    /// <summary>Latents of the masked image [B, 4, h, w], to use instead of encoding <c>image · (mask &lt; 0.5)</c>.</summary>
    public Tensor? MaskedImageLatents { get; init; }
    /// <summary>
    /// Output height, a multiple of 8; default: the image's, rounded down to a multiple of 8. (diffusers defaults to the
    /// UNet's sample_size × 8 instead, e.g. 512 for stable-diffusion-inpainting; give both sizes for its results then.)
    /// </summary>
    public int? Height { get; init; }
    /// <summary>Output width, a multiple of 8; default: the image's, rounded down to a multiple of 8 (see <see cref="Height"/>).</summary>
    public int? Width { get; init; }
    /// <summary>
    /// How much to change the masked region, in [0, 1]. At 1 the latents start from pure noise (the image only enters
    /// through the mask conditioning or blending); below 1 from the image's latents noised to that level.
    /// </summary>
    public double Strength { get; init; } = 1.0;
    /// <summary>Initial noise [B·K, 4, H/8, W/8]; drawn from the generator when null. Used as pure noise whatever the strength, as diffusers does.</summary>
    public Tensor? Latents { get; init; }

    public StableDiffusionInpaintInput() { }

    public StableDiffusionInpaintInput(string prompt, Tensor image, Tensor maskImage)
    {
        Prompt = [prompt];
        Image = image;
        MaskImage = maskImage;
    }
}
