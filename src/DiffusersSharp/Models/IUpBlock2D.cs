using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>A UNet up block: consumes one skip tensor per resnet, last first.</summary>
public interface IUpBlock2D
{
    bool HasCrossAttention { get; }

    /// <summary>How many skip tensors the block consumes (diffusers' <c>len(block.resnets)</c>).</summary>
    int NumResnets { get; }

    /// <param name="resHiddenStates">This block's skip tensors in down-path order; the last is concatenated first.</param>
    /// <param name="upsampleSize">Explicit H and W for the upsampler when the input size is not a multiple of the UNet's downsampling factor.</param>
    Tensor Forward(Tensor hiddenStates, IReadOnlyList<Tensor> resHiddenStates, Tensor? temb, CrossAttentionInputs? crossAttention = null, long[]? upsampleSize = null);
}
