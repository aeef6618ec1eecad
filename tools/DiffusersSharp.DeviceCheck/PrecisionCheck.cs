using DiffusersSharp.Loading;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Runtime;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.DeviceCheck;

/// <summary>
/// Pictures of the tiny SD model on a device in float32, float16 and bfloat16 against the CPU's float32 picture, as
/// PSNR (the test suite's <c>PrecisionTests</c> on an accelerator). All runs start from the same float32 latents, so
/// the difference is the device's and the precision's alone. Bounds as PrecisionTests': the tiny model's random
/// weights make it more sensitive than trained ones.
/// </summary>
public static class PrecisionCheck
{
    private static readonly (ScalarType DType, double MinPsnr)[] Runs =
    [
        (ScalarType.Float32, 60.0),
        (ScalarType.Float16, 50.0),
        (ScalarType.BFloat16, 22.0),
    ];

    public static int Run(DeviceCheckOptions options)
    {
        NativeRuntime.AllowTf32(false);
        var model = Path.Combine(options.Fixtures, "models", "tiny-sd");
        var input = new StableDiffusionInput("a red circle on a blue background")
        {
            Height = options.Size, Width = options.Size, NumInferenceSteps = options.Steps,
        };
        using var generator = new Generator(0);
        using var latents = randn([1, 4, options.Size / 8, options.Size / 8], generator: generator);
        using var reference = Generate(model, new LoadOptions(), input with { Latents = latents });
        options.Report($"precision on {options.Device}: tiny-sd {options.Size}² {options.Steps} steps against the CPU in float32");
        var failed = 0;
        foreach (var (dtype, minPsnr) in Runs)
        {
            using var image = Generate(model, new LoadOptions { DType = dtype, Device = options.Device }, input with { Latents = latents });
            var psnr = ImageMetrics.Psnr(reference, image);
            var ok = psnr >= minPsnr;
            if (!ok) failed++;
            options.Report($"{(ok ? "ok  " : "FAIL")}  {dtype}: PSNR {psnr:F1} dB (at least {minPsnr} dB)");
        }

        // For information: float32 with TF32 allowed, and a seeded picture drawn by the device's own generator.
        NativeRuntime.AllowTf32(true);
        using (var tf32 = Generate(model, new LoadOptions { Device = options.Device }, input with { Latents = latents }))
            options.Report($"info  Float32 with TF32 allowed: PSNR {ImageMetrics.Psnr(reference, tf32):F1} dB");
        NativeRuntime.AllowTf32(false);
        using (var cpuSeeded = Generate(model, new LoadOptions { Device = options.Device }, input with { Seed = 0 }))
        using (var deviceSeeded = Generate(model, new LoadOptions { Device = options.Device }, input with { Seed = 0, GeneratorDevice = GeneratorDevice.Device }))
            options.Report($"info  seed 0 drawn on {options.Device} instead of the CPU: PSNR {ImageMetrics.Psnr(cpuSeeded, deviceSeeded):F1} dB against the CPU generator's picture");
        return failed == 0 ? 0 : 1;
    }

    private static Tensor Generate(string model, LoadOptions options, StableDiffusionInput input)
    {
        using var pipeline = StableDiffusionPipeline.FromPretrained(model, options);
        using var result = pipeline.Generate(input);
        return result.Images!.cpu().clone();
    }
}
