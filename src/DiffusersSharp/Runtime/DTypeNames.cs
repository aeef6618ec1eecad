using static TorchSharp.torch;

namespace DiffusersSharp.Runtime;

/// <summary>PyTorch's names of the floating-point dtypes models run in (<c>torch_dtype</c> in configs), with their short forms.</summary>
public static class DTypeNames
{
    /// <summary>Reads float32/fp32, float16/fp16/half or bfloat16/bf16, in any case.</summary>
    public static bool TryParse(string? name, out ScalarType dtype)
    {
        ScalarType? parsed = name?.ToLowerInvariant() switch
        {
            "float32" or "fp32" => ScalarType.Float32,
            "float16" or "fp16" or "half" => ScalarType.Float16,
            "bfloat16" or "bf16" => ScalarType.BFloat16,
            _ => null,
        };
        dtype = parsed ?? default;
        return parsed is not null;
    }

    /// <summary>PyTorch's name of <paramref name="dtype"/>, as transformers writes it in <c>torch_dtype</c>.</summary>
    public static string Name(ScalarType dtype) => dtype switch
    {
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float64 => "float64",
        _ => "float32",
    };
}
