using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Runtime;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>The accelerator options that also exist on the CPU: TF32 flags and the seeded generator's device.</summary>
public class DeviceOptionsTests
{
    [Fact]
    public void AllowTf32SetsLibtorchsMatmulAndConvolutionFlags()
    {
        var (matmul, conv) = (NativeRuntime.MatmulAllowsTf32, NativeRuntime.ConvolutionsAllowTf32);
        try
        {
            NativeRuntime.AllowTf32(true);
            Assert.True(NativeRuntime.MatmulAllowsTf32);
            Assert.True(NativeRuntime.ConvolutionsAllowTf32);
            NativeRuntime.AllowTf32(false);
            Assert.False(NativeRuntime.MatmulAllowsTf32);
            Assert.False(NativeRuntime.ConvolutionsAllowTf32);
        }
        finally
        {
            backends.cuda.matmul.allow_tf32 = matmul;
            backends.cudnn.allow_tf32 = conv;
        }
    }

    [Fact]
    public void ADeviceGeneratorDrawsOnThePipelinesDevice()
    {
        // On the CPU the pipeline's device is the CPU, so both choices draw the same numbers; the seeded generator
        // must still be the one on the pipeline's device.
        var input = new StableDiffusionInput("a red circle") { Seed = 3, GeneratorDevice = GeneratorDevice.Device };
        using var generator = input.NewSeededGenerator(CPU)!;
        Assert.Equal(TorchSharp.DeviceType.CPU, generator.device.type);
        using var pipeline = StableDiffusionPipeline.FromPretrained(FixtureCase.PathOf("models/tiny-sd"));
        var small = input with { Height = 64, Width = 64, NumInferenceSteps = 2 };
        using var onDevice = pipeline.Generate(small);
        using var onCpu = pipeline.Generate(small with { GeneratorDevice = GeneratorDevice.Cpu });
        TensorAssert.Equal(onCpu.Images!, onDevice.Images!, "images");
    }
}
