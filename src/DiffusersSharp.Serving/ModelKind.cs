namespace DiffusersSharp.Serving;

/// <summary>What a folder in the models folder holds.</summary>
public enum ModelKind
{
    /// <summary>A Stable Diffusion 1.x/2.x pipeline folder (text-to-image, image-to-image or inpainting).</summary>
    StableDiffusion,
    /// <summary>A Stable Diffusion XL pipeline folder.</summary>
    StableDiffusionXL,
    /// <summary>A ControlNetModel folder, named by a request's <c>controlnet</c>.</summary>
    ControlNet,
}
