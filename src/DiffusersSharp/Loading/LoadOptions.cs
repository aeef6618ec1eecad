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

    /// <summary>
    /// Per-component dtypes of a pipeline by model_index.json name, overriding <see cref="DType"/> (diffusers'
    /// <c>torch_dtype={"vae": torch.float32, "default": torch.bfloat16}</c>): e.g. keep the VAE in float32 while the
    /// rest runs in bfloat16.
    /// </summary>
    public IReadOnlyDictionary<string, ScalarType>? ComponentDTypes { get; init; }

    /// <summary>
    /// diffusers' <c>low_cpu_mem_usage</c> (default true): build the model without allocating or initialising its
    /// weights, allocate them once in the final dtype on the final device, and fill them from the files. False builds
    /// randomly initialised float32 weights first and converts them, which costs time and memory but touches no
    /// process-wide state (see <see cref="Models.EmptyWeights"/>).
    /// </summary>
    public bool LowCpuMemUsage { get; init; } = true;

    public static LoadOptions Default { get; } = new();

    /// <summary>The options for one pipeline component: its own dtype where <see cref="ComponentDTypes"/> names it.</summary>
    public LoadOptions ForComponent(string name) =>
        ComponentDTypes is not null && ComponentDTypes.TryGetValue(name, out var dtype) ? this with { DType = dtype } : this;
}
