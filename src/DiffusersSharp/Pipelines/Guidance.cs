using DiffusersSharp.Models;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines;

/// <summary>Classifier-free guidance (Ho &amp; Salimans, 2022) with diffusers' optional guidance rescale (Lin et al., 2023).</summary>
public static class Guidance
{
    /// <summary>diffusers' <c>do_classifier_free_guidance</c>: off for guidance ≤ 1 and for guidance-distilled UNets.</summary>
    public static bool DoClassifierFreeGuidance(double guidanceScale, UNet2DConditionModel unet) => guidanceScale > 1.0 && unet.TimeCondProjDim is null;

    /// <param name="noisePred">The UNet output for the batch [uncond; cond].</param>
    public static Tensor Apply(Tensor noisePred, double guidanceScale, double guidanceRescale)
    {
        var chunks = noisePred.chunk(2);
        var (uncond, text) = (chunks[0], chunks[1]);
        var guided = uncond + guidanceScale * (text - uncond);
        return guidanceRescale > 0 ? RescaleNoiseCfg(guided, text, guidanceRescale) : guided;
    }

    /// <summary>diffusers' <c>rescale_noise_cfg</c>: matches the guided prediction's std to the text prediction's.</summary>
    public static Tensor RescaleNoiseCfg(Tensor noiseCfg, Tensor noisePredText, double guidanceRescale)
    {
        var dims = Enumerable.Range(1, (int)noisePredText.ndim - 1).Select(d => (long)d).ToArray();
        var stdText = noisePredText.std(dims, keepdim: true);
        var stdCfg = noiseCfg.std(dims, keepdim: true);
        var rescaled = noiseCfg * (stdText / stdCfg);
        return guidanceRescale * rescaled + (1 - guidanceRescale) * noiseCfg;
    }
}
