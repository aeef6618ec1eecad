using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// diffusers' <c>ControlNetOutput</c>: the residuals a ControlNet adds to the UNet, already scaled. Pass them as
/// <see cref="UNet2DConditionExtras.DownBlockAdditionalResiduals"/> and <see cref="UNet2DConditionExtras.MidBlockAdditionalResidual"/>.
/// Owns its tensors.
/// </summary>
public sealed class ControlNetOutput : IDisposable
{
    public ControlNetOutput(IReadOnlyList<Tensor> downBlockResSamples, Tensor midBlockResSample)
    {
        DownBlockResSamples = downBlockResSamples;
        MidBlockResSample = midBlockResSample;
    }

    /// <summary>One residual per skip tensor of the UNet's down path (conv_in output, every resnet, every downsampler).</summary>
    public IReadOnlyList<Tensor> DownBlockResSamples { get; }

    /// <summary>Residual for the mid block output.</summary>
    public Tensor MidBlockResSample { get; }

    public void Dispose()
    {
        foreach (var t in DownBlockResSamples) t.Dispose();
        MidBlockResSample.Dispose();
    }
}
