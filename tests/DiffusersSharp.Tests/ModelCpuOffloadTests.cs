using DiffusersSharp.Images;
using DiffusersSharp.Models;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.ControlNet;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Pipelines.StableDiffusionXL;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>
/// The order of model CPU offload's moves, checked on the CPU with the CPU as "execution device" and a recorder of
/// moves: what diffusers' <c>enable_model_cpu_offload</c> does on a GPU (accelerate's hooks chained along
/// <c>model_cpu_offload_seq</c>, a ControlNet outside the chain, <c>maybe_free_model_hooks</c> at the end of a call).
/// </summary>
public class ModelCpuOffloadTests
{
    private static (ModelCpuOffload Offload, List<string> Moves) Recorder()
    {
        var moves = new List<string>();
        return (new ModelCpuOffload(CPU, (name, toDevice) => moves.Add($"{name}{(toDevice ? "+" : "-")}")), moves);
    }

    [Fact]
    public void TextToImageMovesEachModelInForItsTurnAndFreesAllAtTheEnd()
    {
        using var pipeline = StableDiffusionPipeline.FromPretrained(FixtureCase.PathOf("models/tiny-sd"));
        var input = new StableDiffusionInput("a red circle") { Height = 64, Width = 64, NumInferenceSteps = 2, Seed = 0 };
        using var reference = pipeline.Generate(input);
        var (offload, moves) = Recorder();
        pipeline.EnableModelCpuOffload(offload);
        Assert.Equal(["text_encoder-", "unet-", "vae-"], moves);

        moves.Clear();
        using var offloaded = pipeline.Generate(input);
        Assert.Equal(["text_encoder+", "text_encoder-", "unet+", "unet-", "vae+", "vae-"], moves);
        TensorAssert.Equal(reference.Images!, offloaded.Images!, "images under offload");

        // A second call runs the same chain again.
        moves.Clear();
        pipeline.Generate(input with { OutputType = OutputType.Latent }).Dispose();
        Assert.Equal(["text_encoder+", "text_encoder-", "unet+", "unet-"], moves);
        Assert.Throws<InvalidOperationException>(() => pipeline.EnableModelCpuOffload(Recorder().Offload));
    }

    [Fact]
    public void ImageToImageKeepsTheVaeFromTheEncodeAndOffloadsTheUNetWhenItDecodes()
    {
        using var pipeline = StableDiffusionImg2ImgPipeline.FromPretrained(FixtureCase.PathOf("models/tiny-sd"));
        var (offload, moves) = Recorder();
        pipeline.EnableModelCpuOffload(offload);
        moves.Clear();
        using var image = rand(3, 64, 64);
        pipeline.Generate(new StableDiffusionImg2ImgInput { Prompt = ["a red circle"], Image = image, NumInferenceSteps = 4, Strength = 0.5, Seed = 0 }).Dispose();
        // As accelerate's hooks: the VAE's hook offloads the UNet at the decode although the VAE never left the device.
        Assert.Equal(["text_encoder+", "vae+", "text_encoder-", "unet+", "unet-", "vae-"], moves);
    }

    [Fact]
    public void AControlNetStaysOnTheDeviceBesideTheUNetUntilTheCallEnds()
    {
        using var pipeline = StableDiffusionControlNetPipeline.FromPretrained(FixtureCase.PathOf("models/tiny-sd"), [FixtureCase.PathOf("models/tiny-controlnet")]);
        var (offload, moves) = Recorder();
        pipeline.EnableModelCpuOffload(offload);
        Assert.Equal(["text_encoder-", "unet-", "vae-", "controlnet-"], moves);
        moves.Clear();
        using var control = rand(3, 64, 64);
        pipeline.Generate(new StableDiffusionControlNetInput { Prompt = ["a house"], ControlImages = [[control]], NumInferenceSteps = 3, Seed = 1 }).Dispose();
        Assert.Equal(["text_encoder+", "controlnet+", "text_encoder-", "unet+", "unet-", "vae+", "vae-", "controlnet-"], moves);
    }

    [Fact]
    public void SdxlChainsBothTextEncoders()
    {
        using var pipeline = StableDiffusionXLPipeline.FromPretrained(SdxlPipelineTests.TinySdxl);
        var (offload, moves) = Recorder();
        pipeline.EnableModelCpuOffload(offload);
        moves.Clear();
        pipeline.Generate(new StableDiffusionXLInput("a lighthouse") { Height = 64, Width = 64, NumInferenceSteps = 2, Seed = 5 }).Dispose();
        Assert.Equal(["text_encoder+", "text_encoder-", "text_encoder_2+", "text_encoder_2-", "unet+", "unet-", "vae+", "vae-"], moves);
    }
}
