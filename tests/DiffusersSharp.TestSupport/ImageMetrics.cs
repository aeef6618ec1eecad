using static TorchSharp.torch;

namespace DiffusersSharp.Tests.Support;

/// <summary>Image similarity measures for images in [0, 1].</summary>
public static class ImageMetrics
{
    /// <summary>Peak signal-to-noise ratio in dB, peak 1: 10·log10(1 / MSE); +∞ for identical images.</summary>
    public static double Psnr(Tensor reference, Tensor image)
    {
        Assert.Equal(reference.shape, image.shape);
        using var scope = NewDisposeScope();
        var mse = (image.to(ScalarType.Float64).cpu() - reference.to(ScalarType.Float64).cpu()).square().mean().item<double>();
        return 10 * Math.Log10(1 / mse);
    }
}
