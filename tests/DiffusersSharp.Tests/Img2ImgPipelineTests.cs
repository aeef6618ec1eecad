using DiffusersSharp.Images;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

public class Img2ImgPipelineTests
{
    public static TheoryData<string> Cases() => new(FixtureCase.List("pipelines", "sd_img2img_"));

    private static string TinySd => FixtureCase.PathOf("models/tiny-sd");
    private static string TinySdInpaint => FixtureCase.PathOf("models/tiny-sd-inpaint");
    private static Tensor InitImage() => ImageIO.LoadRgb(FixtureCase.PathOf("inputs/init_64x64.png"));

    private static (StableDiffusionImg2ImgPipeline Pipeline, StableDiffusionImg2ImgInput Input) FromManifest(FixtureCase fixture)
    {
        var pipeline = StableDiffusionImg2ImgPipeline.FromPretrained(fixture.ModelPath(fixture.Manifest["model"]!.GetValue<string>()));
        PipelineFixture.SwapScheduler(fixture, pipeline);
        var input = PipelineFixture.WithCommonArguments(fixture, new StableDiffusionImg2ImgInput
        {
            Image = PipelineFixture.PngArgument(fixture, "image"),
            Strength = fixture.Manifest["call"]!["strength"]!.GetValue<double>(),
        });
        return (pipeline, input);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesDiffusers(string caseName)
    {
        using var fixture = FixtureCase.Load(caseName);
        var (pipeline, input) = FromManifest(fixture);
        using var _ = pipeline;
        using var image = input.Image!;

        PipelineFixture.AssertMatches(fixture, (callback, outputType) =>
            pipeline.Generate(input with { CallbackOnStepEnd = callback, OutputType = outputType }));
    }

    [Fact]
    public void FullStrengthRunsEveryStepAndSmallStrengthFew()
    {
        using var pipeline = StableDiffusionImg2ImgPipeline.FromPretrained(TinySd);
        pipeline.SetScheduler(SchedulerFactory.FromConfig("DDIMScheduler", pipeline.Scheduler.Config));
        using var image = InitImage();
        foreach (var (strength, expected) in new[] { (1.0, 4), (0.5, 2), (0.25, 1) })
        {
            var steps = 0;
            using var output = pipeline.Generate(new StableDiffusionImg2ImgInput("a cat", image)
            {
                NumInferenceSteps = 4,
                Strength = strength,
                Seed = 1,
                OutputType = OutputType.Latent,
                CallbackOnStepEnd = _ => steps++,
            });
            Assert.Equal(expected, steps);
        }
    }

    [Fact]
    public void ImageBatchAndImagesPerPromptGiveOneOutputEach()
    {
        using var pipeline = StableDiffusionImg2ImgPipeline.FromPretrained(TinySd);
        using var image = InitImage();
        using var output = pipeline.Generate(new StableDiffusionImg2ImgInput
        {
            Prompt = ["a cat", "a dog"],
            Image = image,
            NumImagesPerPrompt = 2,
            NumInferenceSteps = 2,
            Seed = 3,
        });
        Assert.Equal([4L, 64, 64, 3], output.Images!.shape);
    }

    [Fact]
    public void FloatImageBatchAndUint8ImageGiveTheSameResult()
    {
        using var pipeline = StableDiffusionImg2ImgPipeline.FromPretrained(TinySd);
        using var image = InitImage();
        using var floats = image.permute(2, 0, 1).unsqueeze(0).to(ScalarType.Float32) / 255;
        var input = new StableDiffusionImg2ImgInput("a cat", image) { NumInferenceSteps = 3, Seed = 5, OutputType = OutputType.Latent };
        using var fromBytes = pipeline.Generate(input);
        using var fromFloats = pipeline.Generate(input with { Image = floats });
        TensorAssert.Close(fromBytes.Latents!, fromFloats.Latents!, 1e-5, "latents");
    }

    [Fact]
    public void FromPipeSharesModelsAndKeepsItsOwnScheduler()
    {
        using var text = StableDiffusionPipeline.FromPretrained(TinySd);
        using (var img2img = StableDiffusionImg2ImgPipeline.FromPipe(text))
        {
            Assert.Same(text.Unet, img2img.Unet);
            Assert.Same(text.Vae, img2img.Vae);
            Assert.NotSame(text.Scheduler, img2img.Scheduler);
            Assert.Equal(text.Scheduler.Config.ToJson(), img2img.Scheduler.Config.ToJson());
            img2img.SetScheduler(SchedulerFactory.FromConfig("EulerDiscreteScheduler", img2img.Scheduler.Config));
            using var image = InitImage();
            using var _ = img2img.Generate(new StableDiffusionImg2ImgInput("a cat", image) { NumInferenceSteps = 2, Seed = 0 });
        }
        // Disposing the img2img pipeline left the text-to-image one whole.
        Assert.Equal("PNDMScheduler", text.Scheduler.ClassName);
        using var output = text.Generate(new StableDiffusionInput("a cat") { Height = 64, Width = 64, NumInferenceSteps = 2, Seed = 0 });
        Assert.NotNull(output.Images);
    }

    [Fact]
    public void TextToImageFolderOpensAsImg2ImgAndSavesAsIt()
    {
        using var pipeline = DiffusionPipeline.FromPretrained(TinySd);
        Assert.IsType<StableDiffusionPipeline>(pipeline);
        using var img2img = StableDiffusionImg2ImgPipeline.FromPretrained(TinySd);
        var dir = Directory.CreateTempSubdirectory("ds-img2img-").FullName;
        img2img.SavePretrained(dir);
        using var reopened = DiffusionPipeline.FromPretrained(dir);
        Assert.IsType<StableDiffusionImg2ImgPipeline>(reopened);
    }

    [Theory]
    [InlineData(-0.1, "strength must be in [0, 1]")]
    [InlineData(1.5, "strength must be in [0, 1]")]
    [InlineData(double.NaN, "strength must be in [0, 1]")]
    [InlineData(0.05, "leaves no denoising step")]
    public void BadStrengthIsRefused(double strength, string expected)
    {
        using var pipeline = StableDiffusionImg2ImgPipeline.FromPretrained(TinySd);
        using var image = InitImage();
        var e = Assert.ThrowsAny<ArgumentException>(() => pipeline.Generate(new StableDiffusionImg2ImgInput("x", image) { NumInferenceSteps = 10, Strength = strength }));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void MissingImageIsRefused()
    {
        using var pipeline = StableDiffusionImg2ImgPipeline.FromPretrained(TinySd);
        var e = Assert.Throws<ArgumentException>(() => pipeline.Generate(new StableDiffusionImg2ImgInput { Prompt = ["x"] }));
        Assert.Contains("image is required", e.Message);
    }

    [Fact]
    public void ImageBatchThatDoesNotDivideThePromptsIsRefused()
    {
        using var pipeline = StableDiffusionImg2ImgPipeline.FromPretrained(TinySd);
        using var image = InitImage();
        using var floats = (image.permute(2, 0, 1).unsqueeze(0).to(ScalarType.Float32) / 255).repeat(2, 1, 1, 1);
        var e = Assert.Throws<ArgumentException>(() => pipeline.Generate(new StableDiffusionImg2ImgInput
        {
            Prompt = ["a", "b", "c"],
            Image = floats,
            NumInferenceSteps = 2,
        }));
        Assert.Contains("Cannot use 2 images for a batch of 3", e.Message);
    }

    [Fact]
    public void InpaintingUnetIsRefusedWithAPointer()
    {
        var e = Assert.Throws<ArgumentException>(() => StableDiffusionImg2ImgPipeline.FromPretrained(TinySdInpaint));
        Assert.Contains("StableDiffusionInpaintPipeline", e.Message);
    }

    [Fact]
    public void CancellationStopsTheLoop()
    {
        using var pipeline = StableDiffusionImg2ImgPipeline.FromPretrained(TinySd);
        using var image = InitImage();
        using var cts = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() => pipeline.Generate(new StableDiffusionImg2ImgInput("x", image)
        {
            NumInferenceSteps = 4,
            Strength = 1.0,
            CallbackOnStepEnd = _ => cts.Cancel(),
        }, cts.Token));
    }
}
