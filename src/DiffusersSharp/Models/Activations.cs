using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>diffusers' <c>get_activation</c>: activation modules by their config names.</summary>
public static class Activations
{
    /// <remarks>Case-insensitive, as diffusers lower-cases the name first.</remarks>
    public static nn.Module<Tensor, Tensor> Get(string name) => name.ToLowerInvariant() switch
    {
        "silu" or "swish" => nn.SiLU(),
        "gelu" => nn.GELU(),
        "mish" => nn.Mish(),
        "relu" => nn.ReLU(),
        _ => throw new NotSupportedException($"Unsupported activation function '{name}': DiffusersSharp supports silu, swish, gelu, mish and relu."),
    };
}
