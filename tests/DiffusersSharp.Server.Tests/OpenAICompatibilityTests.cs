using System.ClientModel;
using DiffusersSharp.Server.Tests.Support;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Images;
using AiImageOptions = Microsoft.Extensions.AI.ImageGenerationOptions;
using OpenAIImageOptions = OpenAI.Images.ImageGenerationOptions;

namespace DiffusersSharp.Server.Tests;

/// <summary>The official OpenAI .NET client, and Microsoft.Extensions.AI over it, generating against the service.</summary>
public sealed class OpenAICompatibilityTests
{
    private const string Key = "openai-style-key";

    private static Dictionary<string, string?> Settings() => new()
    {
        ["Diffuse:ApiKeys:0:Name"] = "openai-client",
        ["Diffuse:ApiKeys:0:Sha256"] = ApiKeys.Hash(Key),
        ["Diffuse:DefaultSteps"] = "2",
    };

    private static ImageClient Client(RunningServer server, string key = Key) =>
        new("tiny-sd", new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(server.BaseAddress, "v1") });

    [Fact]
    public async Task The_OpenAI_ImageClient_generates_pictures_of_the_requested_size_and_count()
    {
        await using var server = await ServerUnderTest.StartAsync(Settings());
        var client = Client(server);
        var options = new OpenAIImageOptions { Size = new GeneratedImageSize(64, 64), ResponseFormat = GeneratedImageFormat.Bytes };

        GeneratedImage image = await client.GenerateImageAsync("a red cube", options);
        Assert.Equal((64, 64), Png.Size(image.ImageBytes.ToArray()));

        GeneratedImageCollection images = await client.GenerateImagesAsync("a blue cube", 2, new OpenAIImageOptions { Size = new GeneratedImageSize(64, 48) });
        Assert.Equal(2, images.Count);
        Assert.All(images, i => Assert.Equal((64, 48), Png.Size(i.ImageBytes.ToArray())));
        Assert.True(images.CreatedAt > DateTimeOffset.UtcNow.AddMinutes(-10));

        var refused = await Assert.ThrowsAsync<ClientResultException>(() => Client(server, "wrong-key").GenerateImageAsync("x", options));
        Assert.Equal(401, refused.Status);
        var invalid = await Assert.ThrowsAsync<ClientResultException>(() => client.GenerateImageAsync("x", new OpenAIImageOptions { Size = new GeneratedImageSize(65, 64) }));
        Assert.Equal(400, invalid.Status);
    }

    [Fact]
    public async Task Microsoft_Extensions_AI_image_generator_over_the_OpenAI_client_works_too()
    {
        await using var server = await ServerUnderTest.StartAsync(Settings());
        IImageGenerator generator = Client(server).AsIImageGenerator();
        var response = await generator.GenerateImagesAsync("a green cube", new AiImageOptions
        {
            Count = 1,
            ImageSize = new System.Drawing.Size(64, 64),
            ResponseFormat = ImageGenerationResponseFormat.Data,
        });
        var picture = Assert.IsType<DataContent>(Assert.Single(response.Contents));
        Assert.Equal("image/png", picture.MediaType);
        Assert.Equal((64, 64), Png.Size(picture.Data.ToArray()));
    }
}
