using Microsoft.Extensions.AI;
using DiffusersSharp.Serving.Tests.Support;

namespace DiffusersSharp.Serving.Tests;

public sealed class DiffusersImageGeneratorTests(SharedManager shared) : IClassFixture<SharedManager>
{
    private static ImageGenerationOptions Options(long seed) => new()
    {
        Count = 2,
        ImageSize = new System.Drawing.Size(40, 32),
        ModelId = "tiny-sd",
        ResponseFormat = ImageGenerationResponseFormat.Data,
        AdditionalProperties = new AdditionalPropertiesDictionary
        {
            ["seed"] = seed,
            ["num_inference_steps"] = 2,
            ["guidance_scale"] = 5.0,
            ["negative_prompt"] = "blurry",
            ["scheduler"] = "euler",
        },
    };

    [Fact]
    public async Task GeneratesThePicturesOfTheEquivalentRequest()
    {
        IImageGenerator generator = new DiffusersImageGenerator(shared.Manager);
        var response = await generator.GenerateImagesAsync("a lighthouse", Options(seed: 3));
        var images = response.Contents.Cast<DataContent>().ToArray();
        Assert.Equal(2, images.Length);
        Assert.All(images, i => Assert.Equal("image/png", i.MediaType));
        Assert.Equal((40, 32), Png.Size(images[0].Data.ToArray()));

        var direct = await shared.Manager.GenerateAsync(new GenerationRequest
        {
            Model = "tiny-sd", Prompt = "a lighthouse", NumImagesPerPrompt = 2, Width = 40, Height = 32, Seed = 3,
            NumInferenceSteps = 2, GuidanceScale = 5.0, NegativePrompt = "blurry", Scheduler = "euler",
        });
        Assert.Equal(direct.Images, images.Select(i => i.Data.ToArray()));
    }

    [Fact]
    public async Task EditsAnImageThroughTheJobService()
    {
        await using var service = await Jobs.StartedAsync(TestModels.Options(), shared.Manager);
        using var generator = new DiffusersImageGenerator(service, defaultModelId: "tiny-sd");
        var original = new DataContent(Png.Noise(48, 40), "image/png");
        var options = Options(seed: 4);
        options.ImageSize = null;
        options.AdditionalProperties!["strength"] = 0.5;
        var response = await generator.EditImageAsync(original, "make it blue", options);
        var images = response.Contents.Cast<DataContent>().ToArray();
        Assert.Equal(2, images.Length);
        Assert.Equal((48, 40), Png.Size(images[0].Data.ToArray()));
        Assert.Equal("tiny-sd", generator.GetService<ImageGeneratorMetadata>()!.DefaultModelId);
    }

    [Fact]
    public async Task BadOptionsAreRefused()
    {
        var generator = new DiffusersImageGenerator(shared.Manager);
        var e = await Assert.ThrowsAsync<RequestValidationException>(() =>
            generator.GenerateImagesAsync("x", new ImageGenerationOptions { AdditionalProperties = new() { ["num_inference_steps"] = "many" } }));
        Assert.True(e.Errors.ContainsKey("num_inference_steps"));
        await Assert.ThrowsAsync<NotSupportedException>(() =>
            generator.GenerateImagesAsync("x", new ImageGenerationOptions { ResponseFormat = ImageGenerationResponseFormat.Hosted }));
        await Assert.ThrowsAsync<NotSupportedException>(() =>
            generator.GenerateImagesAsync("x", new ImageGenerationOptions { MediaType = "image/jpeg" }));
    }
}
