using DiffusersSharp.Pipelines.StableDiffusion;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.ControlNet;

/// <summary>
/// The arguments of a ControlNet text-to-image call, named after diffusers' <c>StableDiffusionControlNetPipeline.__call__</c>.
/// Give one entry of <see cref="ControlImages"/> per ControlNet. Per-net lists (<see cref="ControlNetConditioningScale"/>,
/// <see cref="ControlGuidanceStart"/>, <see cref="ControlGuidanceEnd"/>) take one value for every net, or one value per net.
/// </summary>
public sealed record StableDiffusionControlNetInput : StableDiffusionInputBase
{
    /// <summary>
    /// Per ControlNet, its control images: one image for every prompt, or one per prompt. An image is uint8
    /// [H, W, 3] / [H, W] as <see cref="Images.ImageIO"/> loads it (resized with Pillow's Lanczos, as diffusers does with PIL
    /// images), or float in [0, 1], [C, H, W] or [B, C, H, W] (resized nearest). Edge maps from
    /// <see cref="Images.CannyEdgeDetector"/> go here as they are.
    /// </summary>
    public required IReadOnlyList<IReadOnlyList<Tensor>> ControlImages { get; init; }

    /// <summary>Output height; default: the (first) control image's, rounded down to a multiple of 8. The control images are resized to it.</summary>
    public int? Height { get; init; }
    public int? Width { get; init; }
    /// <summary>Initial latents [B·K, C, H/8, W/8]; drawn from the generator when null.</summary>
    public Tensor? Latents { get; init; }

    /// <summary>Multiplies each net's residuals before they join the UNet (diffusers' <c>controlnet_conditioning_scale</c>).</summary>
    public IReadOnlyList<double> ControlNetConditioningScale { get; init; } = [1.0];

    /// <summary>Each net takes part from this fraction of the steps on (diffusers' <c>control_guidance_start</c>), in [0, 1).</summary>
    public IReadOnlyList<double> ControlGuidanceStart { get; init; } = [0.0];

    /// <summary>… up to this fraction of the steps (diffusers' <c>control_guidance_end</c>), in (start, 1].</summary>
    public IReadOnlyList<double> ControlGuidanceEnd { get; init; } = [1.0];

    /// <summary>
    /// diffusers' <c>guess_mode</c>: the ControlNets see only the conditional half of the guidance batch and scale their
    /// residuals from 0.1 (shallow) to 1 (deep), so that they recognise the control image's content even without a prompt.
    /// </summary>
    public bool GuessMode { get; init; }
}
