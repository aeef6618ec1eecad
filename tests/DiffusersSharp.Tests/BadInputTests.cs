using DiffusersSharp.Loading;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tests.Support;

namespace DiffusersSharp.Tests;

/// <summary>Bad input gets an exception whose message names the problem.</summary>
public class BadInputTests
{
    private static string TinySd => FixtureCase.PathOf("models/tiny-sd");

    /// <summary>A writable copy of tiny-sd to break in one place.</summary>
    private static string CopyOfTinySd()
    {
        var dir = Directory.CreateTempSubdirectory("ds-bad-").FullName;
        foreach (var file in Directory.GetFiles(TinySd, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(dir, Path.GetRelativePath(TinySd, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        return dir;
    }

    [Fact]
    public void MissingFolderIsNamed()
    {
        var e = Assert.Throws<DirectoryNotFoundException>(() => DiffusionPipeline.FromPretrained("/nonexistent/model"));
        Assert.Contains("/nonexistent/model", e.Message);
    }

    [Fact]
    public void MissingModelIndexIsNamed()
    {
        var dir = Directory.CreateTempSubdirectory("ds-empty-").FullName;
        var e = Assert.Throws<FileNotFoundException>(() => DiffusionPipeline.FromPretrained(dir));
        Assert.Contains("model_index.json", e.Message);
    }

    [Fact]
    public void MissingWeightsFileIsNamed()
    {
        var dir = CopyOfTinySd();
        File.Delete(Path.Combine(dir, "unet", "diffusion_pytorch_model.safetensors"));
        var e = Assert.Throws<FileNotFoundException>(() => DiffusionPipeline.FromPretrained(dir));
        Assert.Contains("diffusion_pytorch_model.safetensors", e.Message);
    }

    [Fact]
    public void MalformedConfigIsNamed()
    {
        var dir = CopyOfTinySd();
        File.WriteAllText(Path.Combine(dir, "vae", "config.json"), "{ \"in_channels\": 3,");
        var e = Assert.Throws<InvalidDataException>(() => DiffusionPipeline.FromPretrained(dir));
        Assert.Contains(Path.Combine("vae", "config.json"), e.Message);
    }

    [Fact]
    public void UnsupportedConfigOptionIsNamed()
    {
        var dir = CopyOfTinySd();
        var path = Path.Combine(dir, "unet", "config.json");
        var config = ModelConfig.Load(path);
        config["class_embed_type"] = "timestep";
        config.Save(path);
        var e = Assert.Throws<NotSupportedException>(() => DiffusionPipeline.FromPretrained(dir));
        Assert.Contains("class_embed_type", e.Message);
    }

    [Fact]
    public void WrongWeightShapeNamesTheWeightAndBothShapes()
    {
        var dir = CopyOfTinySd();
        var path = Path.Combine(dir, "unet", "config.json");
        var config = ModelConfig.Load(path);
        config["cross_attention_dim"] = 16;
        config.Save(path);
        var e = Assert.Throws<InvalidDataException>(() => DiffusionPipeline.FromPretrained(dir));
        Assert.Matches(@"attn2\.to_[kv]\.weight", e.Message);
        Assert.Contains("[32, 32]", e.Message);
        Assert.Contains("[32, 16]", e.Message);
    }

    [Fact]
    public void UnsupportedPipelineClassIsNamed()
    {
        var dir = CopyOfTinySd();
        var path = Path.Combine(dir, "model_index.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"StableDiffusionPipeline\"", "\"KandinskyPipeline\""));
        var e = Assert.Throws<NotSupportedException>(() => DiffusionPipeline.FromPretrained(dir));
        Assert.Contains("KandinskyPipeline", e.Message);
    }

    [Fact]
    public void UnknownSchedulerListsKnownOnes()
    {
        using var pipeline = StableDiffusionPipeline.FromPretrained(TinySd);
        var e = Assert.ThrowsAny<Exception>(() => SchedulerFactory.FromConfig("FancyScheduler", pipeline.Scheduler.Config));
        Assert.Contains("FancyScheduler", e.Message);
        Assert.Contains("EulerDiscreteScheduler", e.Message);
    }

    [Theory]
    [InlineData(60, 64, "divisible by 8")]
    [InlineData(64, 0, "positive")]
    public void BadSizeIsRefused(int height, int width, string expected)
    {
        using var pipeline = StableDiffusionPipeline.FromPretrained(TinySd);
        var e = Assert.ThrowsAny<ArgumentException>(() => pipeline.Generate(new StableDiffusionInput("x") { Height = height, Width = width, NumInferenceSteps = 1 }));
        Assert.Contains(expected, e.Message);
    }

    /// <summary>
    /// diffusers' StableDiffusionPipeline asks for multiples of 8 whatever the VAE: with a 3-block VAE (scale factor 4)
    /// 36 pixels would make whole latents, and is refused all the same.
    /// </summary>
    [Fact]
    public void TextToImageSizesAreMultiplesOf8WhateverTheVae()
    {
        ModelConfig Config(string component) => ModelConfig.Load(Path.Combine(TinySd, component, "config.json"));
        var vaeConfig = Config("vae");
        vaeConfig["block_out_channels"] = new System.Text.Json.Nodes.JsonArray(32, 32, 32);
        vaeConfig["down_block_types"] = new System.Text.Json.Nodes.JsonArray("DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D");
        vaeConfig["up_block_types"] = new System.Text.Json.Nodes.JsonArray("UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D");
        using var pipeline = new StableDiffusionPipeline(new Models.AutoencoderKL(vaeConfig), new Models.CLIPTextModel(Config("text_encoder")),
            Tokenizers.CLIPTokenizer.FromPretrained(Path.Combine(TinySd, "tokenizer")), new Models.UNet2DConditionModel(Config("unet")),
            new DDIMScheduler(ModelConfig.Parse("{}")), ModelConfig.Parse("{}"));
        Assert.Equal(4, pipeline.VaeScaleFactor);
        var e = Assert.ThrowsAny<ArgumentException>(() => pipeline.Generate(new StableDiffusionInput("x") { Height = 36, Width = 64, NumInferenceSteps = 1 }));
        Assert.Contains("divisible by 8", e.Message);
    }

    [Fact]
    public void BadNumbersAreRefusedByName()
    {
        using var pipeline = StableDiffusionPipeline.FromPretrained(TinySd);
        var baseInput = new StableDiffusionInput("x") { Height = 64, Width = 64, NumInferenceSteps = 1 };
        Assert.Contains("num_inference_steps", Assert.ThrowsAny<ArgumentException>(() => pipeline.Generate(baseInput with { NumInferenceSteps = 0 })).Message);
        Assert.Contains("guidance_scale", Assert.ThrowsAny<ArgumentException>(() => pipeline.Generate(baseInput with { GuidanceScale = -1 })).Message);
        Assert.Contains("num_images_per_prompt", Assert.ThrowsAny<ArgumentException>(() => pipeline.Generate(baseInput with { NumImagesPerPrompt = 0 })).Message);
        Assert.Contains("clip_skip", Assert.ThrowsAny<ArgumentException>(() => pipeline.Generate(baseInput with { ClipSkip = 99 })).Message);
        Assert.Contains("negative_prompt", Assert.ThrowsAny<ArgumentException>(() => pipeline.Generate(baseInput with { NegativePrompt = ["a", "b"] })).Message);
    }
}
