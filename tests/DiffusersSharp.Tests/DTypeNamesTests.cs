using DiffusersSharp.Runtime;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>The dtype names the CLI's --dtype and the service's Diffuse:DType accept, and the one configs are written with.</summary>
public class DTypeNamesTests
{
    [Theory]
    [InlineData("float32", ScalarType.Float32)]
    [InlineData("FP32", ScalarType.Float32)]
    [InlineData("float16", ScalarType.Float16)]
    [InlineData("fp16", ScalarType.Float16)]
    [InlineData("half", ScalarType.Float16)]
    [InlineData("BFloat16", ScalarType.BFloat16)]
    [InlineData("bf16", ScalarType.BFloat16)]
    public void ReadsPyTorchNamesAndShortForms(string name, ScalarType expected)
    {
        Assert.True(DTypeNames.TryParse(name, out var dtype));
        Assert.Equal(expected, dtype);
        Assert.True(DTypeNames.TryParse(DTypeNames.Name(dtype), out var again));
        Assert.Equal(dtype, again);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("float8")]
    [InlineData("int8")]
    [InlineData("torch.float16")]
    public void RefusesOtherNames(string? name) => Assert.False(DTypeNames.TryParse(name, out _));
}
