using DiffusersSharp.Images;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.ControlNet;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>Issue 4's bad inputs: each gets an error that names the problem.</summary>
public class EditingPipelineBadInputTests
{
    [Fact]
    public void SdxlFolderOpenedAsStableDiffusionIsRefusedByClass()
    {
        var e = Assert.ThrowsAny<Exception>(() => StableDiffusionPipeline.FromPretrained(FixtureCase.PathOf("models/tiny-sdxl")));
        Assert.Contains("StableDiffusionXLPipeline", e.Message);
    }

    [Fact]
    public void ControlNetThatDoesNotMatchTheUNetIsRefused()
    {
        // tiny-controlnet was made from tiny-sd's UNet; tiny-sd-inpaint's UNet has 9 input channels and 16-wide text.
        var e = Assert.ThrowsAny<Exception>(() => StableDiffusionControlNetPipeline.FromPretrained(
            FixtureCase.PathOf("models/tiny-sd-inpaint"), [FixtureCase.PathOf("models/tiny-controlnet")]));
        Assert.Contains("does not match the UNet", e.Message);
    }

    [Fact]
    public void MaskThatIsNotOneImageChannelIsRefused()
    {
        using var pipeline = StableDiffusionInpaintPipeline.FromPretrained(FixtureCase.PathOf("models/tiny-sd-inpaint"));
        using var image = ImageIO.LoadRgb(FixtureCase.PathOf("inputs/init_64x64.png"));
        using var mask = zeros(new long[] { 64, 64, 2 }, ScalarType.Byte);
        var e = Assert.ThrowsAny<ArgumentException>(() => pipeline.Generate(new StableDiffusionInpaintInput("x", image, mask) { NumInferenceSteps = 1 }));
        Assert.Contains("mask", e.Message, StringComparison.OrdinalIgnoreCase);
    }
}
