using DiffusersSharp.Images;
using DiffusersSharp.Models;
using DiffusersSharp.Pipelines.ControlNet;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>diffusers' from_pipe for text-to-image and ControlNet: the same models, the same pictures as a fresh load, nothing freed twice.</summary>
public class FromPipeTests
{
    private static string TinySd => FixtureCase.PathOf("models/tiny-sd");
    private static string TinySdInpaint => FixtureCase.PathOf("models/tiny-sd-inpaint");
    private static string TinyControlNet => FixtureCase.PathOf("models/tiny-controlnet");
    private static string ControlImagePath => FixtureCase.PathOf("inputs/control_64x64.png");

    [Fact]
    public void TextToImageFromAnInpaintingPipelineGivesTheTextToImagePictures()
    {
        using var loaded = StableDiffusionPipeline.FromPretrained(TinySd);
        using var inpaint = StableDiffusionInpaintPipeline.FromPretrained(TinySd);
        var input = new StableDiffusionInput("a cat") { Height = 32, Width = 32, NumInferenceSteps = 2, Seed = 3 };
        using var expected = loaded.Generate(input);
        using (var fromPipe = StableDiffusionPipeline.FromPipe(inpaint))
        {
            Assert.Same(inpaint.Unet, fromPipe.Unet);
            Assert.NotSame(inpaint.Scheduler, fromPipe.Scheduler);
            using var actual = fromPipe.Generate(input);
            TensorAssert.Equal(expected.Images!, actual.Images!);
        }
        // Disposing the derived pipeline left the models whole.
        using var again = inpaint.Generate(new StableDiffusionInpaintInput("a cat", zeros(32, 32, 3, ScalarType.Byte), zeros(32, 32, ScalarType.Byte)) { NumInferenceSteps = 2, Seed = 0 });
        Assert.NotNull(again.Images);
    }

    [Fact]
    public void ControlNetFromPipeGivesTheLoadedPipelinesPictures()
    {
        using var loaded = StableDiffusionControlNetPipeline.FromPretrained(TinySd, [TinyControlNet]);
        using var text = StableDiffusionPipeline.FromPretrained(TinySd);
        using var net = ControlNetModel.FromPretrained(TinyControlNet);
        using var image = ImageIO.LoadRgb(ControlImagePath);
        var input = new StableDiffusionControlNetInput { Prompt = ["a cat"], ControlImages = [[image]], NumInferenceSteps = 2, Seed = 1 };
        using var expected = loaded.Generate(input);
        using (var fromPipe = StableDiffusionControlNetPipeline.FromPipe(text, net))
        {
            Assert.Same(text.Unet, fromPipe.Unet);
            Assert.Same(net, fromPipe.ControlNets[0]);
            using var actual = fromPipe.Generate(input);
            TensorAssert.Equal(expected.Images!, actual.Images!);
        }
        // Neither the text-to-image pipeline's models nor the ControlNet were freed with it.
        using var after = StableDiffusionControlNetPipeline.FromPipe(text, net);
        using var output = after.Generate(input);
        TensorAssert.Equal(expected.Images!, output.Images!);
        // A 9-channel inpainting UNet does not take a 4-channel ControlNet's residuals.
        using var inpaint = StableDiffusionInpaintPipeline.FromPretrained(TinySdInpaint);
        Assert.Throws<ArgumentException>(() => StableDiffusionControlNetPipeline.FromPipe(inpaint, net));
    }

    [Fact]
    public void ImagesDecodeAndEncodeFromBytesAsFilesDo()
    {
        var bytes = File.ReadAllBytes(ControlImagePath);
        using var fromFile = ImageIO.LoadRgb(ControlImagePath);
        using var fromBytes = ImageIO.DecodeRgb(bytes);
        TensorAssert.Equal(fromFile, fromBytes);
        using var grayFile = ImageIO.LoadGray(ControlImagePath);
        using var grayBytes = ImageIO.DecodeGray(bytes);
        TensorAssert.Equal(grayFile, grayBytes);

        var path = Path.Combine(Directory.CreateTempSubdirectory("ds-png-").FullName, "x.png");
        ImageIO.SavePng(fromBytes, path);
        Assert.Equal(File.ReadAllBytes(path), ImageIO.EncodePng(fromBytes));
        using var roundTrip = ImageIO.DecodeRgb(ImageIO.EncodePng(fromBytes));
        TensorAssert.Equal(fromBytes, roundTrip);
        Assert.Throws<InvalidDataException>(() => ImageIO.DecodeRgb("not an image"u8));
    }
}
