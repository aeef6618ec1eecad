using static TorchSharp.torch;

namespace DiffusersSharp.Loading;

/// <summary>
/// How to load a model or pipeline from a diffusers folder. <see cref="DType"/> null keeps float32 (diffusers'
/// default); <see cref="Variant"/> picks files such as <c>diffusion_pytorch_model.fp16.safetensors</c>.
/// </summary>
public sealed record LoadOptions
{
    public ScalarType? DType { get; init; }
    public Device? Device { get; init; }
    public string? Variant { get; init; }

    public static LoadOptions Default { get; } = new();
}
