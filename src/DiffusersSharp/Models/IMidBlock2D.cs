using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>A UNet mid block.</summary>
public interface IMidBlock2D
{
    bool HasCrossAttention { get; }

    Tensor Forward(Tensor hiddenStates, Tensor? temb, CrossAttentionInputs? crossAttention = null);
}
