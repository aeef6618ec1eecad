using DiffusersSharp.Images;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

public class InpaintPipelineTests
{
    public static TheoryData<string> Cases() => new(FixtureCase.List("pipelines", "sdinpaint_"));

    private static string TinySd => FixtureCase.PathOf("models/tiny-sd");
    private static string TinySdInpaint => FixtureCase.PathOf("models/tiny-sd-inpaint");
    private static Tensor Image(string name = "init_64x64.png") => ImageIO.LoadRgb(FixtureCase.PathOf("inputs/" + name));
    private static Tensor Mask(string name = "mask_64x64.png") => ImageIO.LoadGray(FixtureCase.PathOf("inputs/" + name));

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesDiffusers(string caseName)
    {
        using var fixture = FixtureCase.Load(caseName);
        var call = fixture.Manifest["call"]!;
        using var pipeline = StableDiffusionInpaintPipeline.FromPretrained(fixture.ModelPath(fixture.Manifest["model"]!.GetValue<string>()));
        Assert.True(pipeline.IsInpaintingUnet);
        PipelineFixture.SwapScheduler(fixture, pipeline);
        using var image = PipelineFixture.PngArgument(fixture, "image");
        using var mask = PipelineFixture.PngArgument(fixture, "mask_image", gray: true);
        var input = PipelineFixture.WithCommonArguments(fixture, new StableDiffusionInpaintInput
        {
            Image = image,
            MaskImage = mask,
            Height = call["height"]?.GetValue<int>(),
            Width = call["width"]?.GetValue<int>(),
            Strength = call["strength"]?.GetValue<double>() ?? 1.0,
        });

        PipelineFixture.AssertMatches(fixture, (callback, outputType) =>
            pipeline.Generate(input with { CallbackOnStepEnd = callback, OutputType = outputType }));
    }

    /// <summary>
    /// With a plain 4-channel UNet the kept region is reset to the image's latents after every step, and after the last
    /// one without noise: the final latents there are exactly the image's posterior sample, the generator's first draw.
    /// </summary>
    [Theory]
    [InlineData(1.0)]
    [InlineData(0.6)]
    public void FourChannelUnetKeepsTheUnmaskedLatents(double strength)
    {
        using var pipeline = StableDiffusionInpaintPipeline.FromPretrained(TinySd);
        Assert.False(pipeline.IsInpaintingUnet);
        using var image = Image();
        using var mask = Mask();
        using var output = pipeline.Generate(new StableDiffusionInpaintInput("a red ball", image, mask)
        {
            NumInferenceSteps = 5,
            Strength = strength,
            Seed = 7,
            OutputType = OutputType.Latent,
        });

        using var scope = NewDisposeScope();
        using var generator = new Generator(7);
        var pixels = pipeline.ImageProcessor.Preprocess(image, 64, 64);
        var imageLatents = ImageToImage.EncodeImage(pipeline.Vae, pixels, generator, ScalarType.Float32);
        var latentMask = nn.functional.interpolate(pipeline.MaskProcessor.Preprocess(mask, 64, 64), size: [8, 8], mode: InterpolationMode.Nearest);
        var kept = latentMask.eq(0).expand_as(imageLatents);
        Assert.True(kept.any().item<bool>() && !kept.all().item<bool>(), "the test mask must keep some latents and repaint others");
        TensorAssert.Equal(imageLatents.masked_select(kept), output.Latents!.masked_select(kept), "kept latents");
        Assert.False(imageLatents.masked_select(kept.logical_not()).allclose(output.Latents!.masked_select(kept.logical_not())), "repainted latents changed");
    }

    [Fact]
    public void SizeDefaultsToTheImages()
    {
        using var pipeline = StableDiffusionInpaintPipeline.FromPretrained(TinySdInpaint);
        using var image = Image("init_64x96.png");
        using var mask = Mask("mask_64x96_b.png");
        using var output = pipeline.Generate(new StableDiffusionInpaintInput("x", image, mask) { NumInferenceSteps = 2, Seed = 0 });
        Assert.Equal([1L, 64, 96, 3], output.Images!.shape);
    }

    [Fact]
    public void FloatMaskAndUint8MaskGiveTheSameResult()
    {
        using var pipeline = StableDiffusionInpaintPipeline.FromPretrained(TinySdInpaint);
        using var image = Image();
        using var mask = Mask();
        using var floatMask = mask.unsqueeze(0).unsqueeze(0).to(ScalarType.Float32) / 255;
        var input = new StableDiffusionInpaintInput("x", image, mask) { NumInferenceSteps = 3, Strength = 0.7, Seed = 2, OutputType = OutputType.Latent };
        using var fromBytes = pipeline.Generate(input);
        using var fromFloats = pipeline.Generate(input with { MaskImage = floatMask });
        TensorAssert.Close(fromBytes.Latents!, fromFloats.Latents!, 1e-5, "latents");
    }

    [Fact]
    public void BatchOfPromptsWithImagesPerPrompt()
    {
        using var pipeline = StableDiffusionInpaintPipeline.FromPretrained(TinySdInpaint);
        using var image = Image();
        using var mask = Mask();
        using var output = pipeline.Generate(new StableDiffusionInpaintInput
        {
            Prompt = ["a cat", "a dog"],
            NegativePrompt = ["blurry"],
            Image = image,
            MaskImage = mask,
            NumImagesPerPrompt = 2,
            NumInferenceSteps = 2,
            Strength = 0.8,
            Seed = 1,
        });
        Assert.Equal([4L, 64, 64, 3], output.Images!.shape);
    }

    [Fact]
    public void OpensFromTheFolderAndFromAnotherPipeline()
    {
        using (var any = DiffusionPipeline.FromPretrained(TinySdInpaint))
            Assert.IsType<StableDiffusionInpaintPipeline>(any);

        using var text = StableDiffusionPipeline.FromPretrained(TinySd);
        using (var inpaint = StableDiffusionInpaintPipeline.FromPipe(text))
        {
            Assert.Same(text.TextEncoder, inpaint.TextEncoder);
            using var image = Image();
            using var mask = Mask();
            using var _ = inpaint.Generate(new StableDiffusionInpaintInput("x", image, mask) { NumInferenceSteps = 2, Seed = 0 });
        }
        using var output = text.Generate(new StableDiffusionInput("x") { Height = 64, Width = 64, NumInferenceSteps = 2, Seed = 0 });
        Assert.NotNull(output.Images);
    }

    [Fact]
    public void GivenLatentsAreThePureNoise()
    {
        using var pipeline = StableDiffusionInpaintPipeline.FromPretrained(TinySdInpaint);
        using var image = Image();
        using var mask = Mask();
        using var seeded = new Generator(21);
        using var noise = randn(1, 4, 8, 8, generator: seeded);
        var input = new StableDiffusionInpaintInput("A painting of a squirrel eating a burger", image, mask) { NumInferenceSteps = 10, Seed = 21, OutputType = OutputType.Latent };
        // With seed 21 the noise is the generator's first draw and the masked image's posterior sample its second.
        using var drawn = pipeline.Generate(input);
        using var otherGenerator = new Generator(99);
        using var otherSample = pipeline.Generate(input with { Latents = noise, Generator = otherGenerator });
        Assert.False(drawn.Latents!.allclose(otherSample.Latents!), "the masked image sample comes from the given generator");
        using var afterNoise = WithOneDrawTaken(21);
        using var same = pipeline.Generate(input with { Latents = noise, Generator = afterNoise });
        TensorAssert.Close(drawn.Latents!, same.Latents!, 1e-6, "latents");
    }

    private static Generator WithOneDrawTaken(ulong seed)
    {
        var generator = new Generator(seed);
        randn(1, 4, 8, 8, generator: generator).Dispose();
        return generator;
    }

    [Theory]
    [InlineData(1.01, "strength must be in [0, 1]")]
    [InlineData(0.0, "leaves no denoising step")]
    public void BadStrengthIsRefused(double strength, string expected)
    {
        using var pipeline = StableDiffusionInpaintPipeline.FromPretrained(TinySdInpaint);
        using var image = Image();
        using var mask = Mask();
        var e = Assert.ThrowsAny<ArgumentException>(() => pipeline.Generate(new StableDiffusionInpaintInput("x", image, mask) { NumInferenceSteps = 4, Strength = strength }));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void MissingImageOrMaskIsRefused()
    {
        using var pipeline = StableDiffusionInpaintPipeline.FromPretrained(TinySdInpaint);
        using var image = Image();
        var e = Assert.Throws<ArgumentException>(() => pipeline.Generate(new StableDiffusionInpaintInput { Prompt = ["x"], Image = image }));
        Assert.Contains("mask_image is required", e.Message);
        e = Assert.Throws<ArgumentException>(() => pipeline.Generate(new StableDiffusionInpaintInput { Prompt = ["x"], MaskImage = image }));
        Assert.Contains("image is required", e.Message);
    }

    [Fact]
    public void SizeNotAMultipleOf8IsRefused()
    {
        using var pipeline = StableDiffusionInpaintPipeline.FromPretrained(TinySdInpaint);
        using var image = Image();
        using var mask = Mask();
        var e = Assert.Throws<ArgumentException>(() => pipeline.Generate(new StableDiffusionInpaintInput("x", image, mask) { Height = 60, NumInferenceSteps = 2 }));
        Assert.Contains("divisible by 8", e.Message);
    }

    [Fact]
    public void WrongLatentsShapeIsRefused()
    {
        using var pipeline = StableDiffusionInpaintPipeline.FromPretrained(TinySdInpaint);
        using var image = Image();
        using var mask = Mask();
        using var latents = zeros(1, 4, 4, 4);
        var e = Assert.Throws<ArgumentException>(() => pipeline.Generate(new StableDiffusionInpaintInput("x", image, mask) { Latents = latents, NumInferenceSteps = 2 }));
        Assert.Contains("latents shape", e.Message);
    }
}
