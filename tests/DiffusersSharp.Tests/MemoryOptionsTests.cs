using DiffusersSharp.Models;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>diffusers' memory options on a pipeline: attention slicing, VAE slicing and tiling, CPU offload.</summary>
public class MemoryOptionsTests
{
    private static StableDiffusionPipeline TinySd() => StableDiffusionPipeline.FromPretrained(FixtureCase.PathOf("models/tiny-sd"));

    // Slices run the same fused kernel per (batch, head) row as the whole call, so outputs come out bit-identical
    // here; 1e-6 leaves room for kernels that split work by batch size.
    [Theory]
    [InlineData(null)]
    [InlineData(1)]
    [InlineData(3)]
    public void SlicedAttentionMatchesUnsliced(int? sliceSize)
    {
        using var unet = UNet2DConditionModel.FromPretrained(FixtureCase.PathOf("models/tiny-sd/unet"));
        using var generator = new Generator(0);
        using var sample = randn([2, 4, 16, 16], generator: generator);
        using var context = randn([2, 77, 32], generator: generator);
        using var timestep = tensor(500L);
        using var mask = ones(2, 77);
        mask[1, TensorIndex.Slice(60)] = zeros(1);
        var extras = new UNet2DConditionExtras { EncoderAttentionMask = mask };
        using var expected = unet.Forward(sample, timestep, context, extras);
        unet.EnableAttentionSlicing(sliceSize);
        using var actual = unet.Forward(sample, timestep, context, extras);
        TensorAssert.Close(expected, actual, 1e-6, $"UNet output with attention slice size {sliceSize?.ToString() ?? "auto"}");
    }

    [Fact]
    public void PipelineSlicesTheUNetsAttentionOnly()
    {
        using var pipeline = TinySd();
        var unetAttention = pipeline.Unet.modules().OfType<Attention>().ToList();
        var vaeAttention = pipeline.Vae.modules().OfType<Attention>().ToList();
        Assert.NotEmpty(unetAttention);
        Assert.NotEmpty(vaeAttention);

        pipeline.EnableAttentionSlicing();
        Assert.All(unetAttention, a => Assert.Equal(Math.Max(1, a.Heads / 2), a.SliceSize));
        Assert.All(vaeAttention, a => Assert.Null(a.SliceSize));
        pipeline.EnableAttentionSlicing(1);
        Assert.All(unetAttention, a => Assert.Equal(1, a.SliceSize));
        pipeline.DisableAttentionSlicing();
        Assert.All(unetAttention, a => Assert.Null(a.SliceSize));

        var tooLarge = unetAttention.Max(a => a.Heads) + 1;
        Assert.Throws<ArgumentOutOfRangeException>(() => pipeline.EnableAttentionSlicing(tooLarge));
    }

    [Fact]
    public void VaeOptionsReachTheVae()
    {
        using var pipeline = TinySd();
        pipeline.EnableVaeSlicing();
        pipeline.EnableVaeTiling();
        Assert.True(pipeline.Vae.UseSlicing);
        Assert.True(pipeline.Vae.UseTiling);
        pipeline.DisableVaeSlicing();
        pipeline.DisableVaeTiling();
        Assert.False(pipeline.Vae.UseSlicing);
        Assert.False(pipeline.Vae.UseTiling);
    }

    [Fact]
    public void CpuOffloadIsANoOpOnTheCpu()
    {
        using var pipeline = TinySd();
        var input = new StableDiffusionInput("a red circle") { Height = 64, Width = 64, NumInferenceSteps = 2, Seed = 0 };
        using var before = pipeline.Generate(input);

        pipeline.EnableModelCpuOffload(CPU);
        pipeline.EnableSequentialCpuOffload(CPU);
        if (!cuda.is_available())
        {
            pipeline.EnableModelCpuOffload();
            pipeline.EnableSequentialCpuOffload();
        }
        pipeline.MaybeFreeModelHooks();
        Assert.All(new ModelMixin[] { pipeline.Unet, pipeline.Vae, pipeline.TextEncoder }, m =>
        {
            Assert.Null(m.CpuOffload);
            Assert.Equal(DeviceType.CPU, m.Device.type);
        });
        using var after = pipeline.Generate(input);
        TensorAssert.Equal(before.Images!, after.Images!, "images");
        Assert.Throws<ArgumentException>(() => new ModelCpuOffload(CPU));
    }
}
