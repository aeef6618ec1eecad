using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>A UNet down block: returns its output and the skip tensors (one per resnet, plus the downsampled one) it hands to the up path.</summary>
public interface IDownBlock2D
{
    /// <summary>Whether the block has transformers and uses <see cref="CrossAttentionInputs"/> (diffusers' <c>has_cross_attention</c>).</summary>
    bool HasCrossAttention { get; }

    /// <param name="additionalResiduals">T2I-Adapter features added to the last resnet/attention output; cross-attention blocks only.</param>
    (Tensor HiddenStates, Tensor[] OutputStates) Forward(Tensor hiddenStates, Tensor? temb, CrossAttentionInputs? crossAttention = null, Tensor? additionalResiduals = null);
}
