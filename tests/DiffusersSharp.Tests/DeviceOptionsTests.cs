using System.Runtime.InteropServices;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Runtime;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>The accelerator options that also exist on the CPU: TF32 flags, the CUDA allocator's setting and the seeded generator's device.</summary>
public class DeviceOptionsTests
{
    [Fact]
    public void LoadingLibtorchAsksTheCudaAllocatorForExpandableSegmentsUnlessConfigured()
    {
        NativeRuntime.EnsureLoaded();
        // libtorch reads the C library's environment, which .NET's Environment does not write: read that one.
        var native = Marshal.PtrToStringAnsi(getenv("PYTORCH_CUDA_ALLOC_CONF"));
        var configured = Environment.GetEnvironmentVariable("PYTORCH_CUDA_ALLOC_CONF") ?? Environment.GetEnvironmentVariable("PYTORCH_ALLOC_CONF");
        if (configured is null) Assert.Equal("expandable_segments:True", native);
        else Assert.Equal(Environment.GetEnvironmentVariable("PYTORCH_CUDA_ALLOC_CONF"), native);
    }

    [DllImport("libc", CharSet = CharSet.Ansi)]
    private static extern IntPtr getenv(string name);

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
    public void ADeviceGeneratorOnTheCpuIsASeededCpuGenerator()
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

    [Fact]
    public void ASeededGeneratorOnADeviceOtherThanCpuOrCudaIsRefusedByName()
    {
        var input = new StableDiffusionInput("a red circle") { Seed = 3, GeneratorDevice = GeneratorDevice.Device };
        var error = Assert.Throws<NotSupportedException>(() => input.NewSeededGenerator(new Device(TorchSharp.DeviceType.META)));
        Assert.Contains("meta", error.Message);
        Assert.Contains("GeneratorDevice.Cpu", error.Message);
    }
}
