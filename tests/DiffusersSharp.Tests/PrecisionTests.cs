using DiffusersSharp.Loading;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>
/// Half-precision generations of the tiny model stay close to float32 ones. The bounds sit a few dB under what was
/// measured (bench/README.md lists the values); a precision bug such as arithmetic that silently drops to 8 bits, a
/// wrong cast or a lost upcast costs far more than that. The tiny model's random weights make it more sensitive than
/// trained ones: its VAE in bfloat16 alone accounts for most of the bfloat16 error.
/// </summary>
public class PrecisionTests(ITestOutputHelper output)
{
    private static readonly StableDiffusionInput Input = new("a red circle on a blue background")
    {
        Height = 128, Width = 128, NumInferenceSteps = 10,
    };

    private static Tensor Generate(LoadOptions options, Tensor latents)
    {
        using var pipeline = StableDiffusionPipeline.FromPretrained(FixtureCase.PathOf("models/tiny-sd"), options);
        using var result = pipeline.Generate(Input with { Latents = latents });
        return result.Images!.clone();
    }

    [Theory]
    // Measured 67.9 dB: float16 keeps 11 bits, and nothing in the tiny model comes near its range.
    [InlineData(ScalarType.Float16, false, 60.0)]
    // Measured 24.9 dB: bfloat16 keeps 8 bits; the VAE's error is most of it (25.4 dB with the VAE alone in bfloat16).
    [InlineData(ScalarType.BFloat16, false, 22.0)]
    // Measured 34.7 dB with the VAE kept in float32 (LoadOptions.ComponentDTypes).
    [InlineData(ScalarType.BFloat16, true, 32.0)]
    public void HalfPrecisionImagesAreCloseToFloat32(ScalarType dtype, bool vaeInFloat32, double minPsnr)
    {
        // randn draws other numbers in half precision than in float32 from the same seed (in PyTorch too), so both
        // runs start from the same float32 noise: the difference is then the precision's alone.
        using var generator = new Generator(0);
        using var latents = randn([1, 4, 16, 16], generator: generator);
        using var reference = Generate(LoadOptions.Default, latents);
        var options = new LoadOptions
        {
            DType = dtype,
            ComponentDTypes = vaeInFloat32 ? new Dictionary<string, ScalarType> { ["vae"] = ScalarType.Float32 } : null,
        };
        using var half = Generate(options, latents);
        var psnr = ImageMetrics.Psnr(reference, half);
        output.WriteLine($"{dtype}{(vaeInFloat32 ? " (VAE float32)" : "")}: PSNR {psnr:F2} dB against float32");
        Assert.True(psnr >= minPsnr, $"{dtype}: PSNR {psnr:F2} dB against float32, expected at least {minPsnr} dB");
    }
}
