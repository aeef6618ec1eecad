using System.Diagnostics;
using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tokenizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Bench;

/// <summary>Runs one <see cref="Stage"/> in this (child) process and returns its rows.</summary>
internal sealed class StageRunner(BenchPaths paths)
{
    private const string Prompt = "a photograph of an astronaut riding a horse";
    private const int ContextLength = 77;

    public IReadOnlyList<StageResult> Run(Stage stage) => stage.Kind switch
    {
        "ops" => Ops(stage),
        "build" => [Build(stage)],
        "load" => [Load(stage)],
        "text" => [Text(stage)],
        "unet" => [UNetStep(stage)],
        "vae" => [VaeDecode(stage)],
        "generate" => [Generate(stage)],
        "flat" => [Flat(stage)],
        _ => throw new ArgumentException($"Unknown stage kind '{stage.Kind}'."),
    };

    private static double MiB(long bytes) => bytes / (1024.0 * 1024.0);

    private static ScalarType DTypeOf(Stage stage) => stage.DType switch
    {
        "float32" => ScalarType.Float32,
        "bfloat16" => ScalarType.BFloat16,
        "float16" => ScalarType.Float16,
        _ => throw new ArgumentException($"Unknown dtype '{stage.DType}'."),
    };

    private static Device DeviceOf(Stage stage) => stage.Device switch
    {
        "cpu" => CPU,
        "cuda" => CUDA,
        var d when d.StartsWith("cuda:", StringComparison.Ordinal) => new Device(DeviceType.CUDA, int.Parse(d[5..])),
        var d => throw new ArgumentException($"Unknown device '{d}'."),
    };

    private static LoadOptions Options(Stage stage) => new() { DType = DTypeOf(stage), Device = DeviceOf(stage) };

    /// <summary>Waits for the device's queued work, so that a timed run ends when its kernels do.</summary>
    private static void Synchronize(Stage stage)
    {
        if (stage.Device != "cpu") cuda.synchronize(DeviceOf(stage));
    }

    /// <summary>One untimed warm-up run, then the median of <paramref name="repeats"/> timed runs, in seconds.</summary>
    private static double Median(int repeats, Action run)
    {
        using (var warmup = NewDisposeScope()) run();
        var times = new double[repeats];
        for (var i = 0; i < repeats; i++)
        {
            using var scope = NewDisposeScope();
            var watch = Stopwatch.StartNew();
            run();
            times[i] = watch.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        return times[repeats / 2];
    }

    /// <summary>Times a measured part with its own peak: resets the peak, then reports it and the memory before.</summary>
    private static StageResult Measured(Stage stage, string name, double? gflop, int repeats, Action run, string? note = null)
    {
        var before = ProcessMemory.ResidentBytes();
        ProcessMemory.ResetPeak();
        var seconds = Median(repeats, run);
        return new StageResult(name, stage.DType, stage.Size, stage.Variant, seconds, gflop, MiB(ProcessMemory.PeakBytes()), MiB(before), Note: note);
    }

    /// <summary>libtorch's own throughput: a 2048³ matmul and SD's most common convolution (3×3, 320 channels, 64×64, batch 2).</summary>
    private static List<StageResult> Ops(Stage stage)
    {
        var dtype = DTypeOf(stage);
        using var noGrad = no_grad();
        using var a = randn(2048, 2048).to(dtype);
        using var b = randn(2048, 2048).to(dtype);
        var matmul = Measured(stage, "matmul 2048³", 2.0 * 2048 * 2048 * 2048 / 1e9, stage.Repeats * 4, () => a.matmul(b));

        using var x = randn(2, 320, 64, 64).to(dtype);
        using var w = (randn(320, 320, 3, 3) * 0.02).to(dtype);
        using var xLast = ChannelsLast.Of(x);
        using var wLast = ChannelsLast.Of(w);
        var convFlop = 2.0 * 9 * 320 * 320 * 64 * 64 * 2 / 1e9;
        var conv = Measured(stage, "conv 3×3 320→320 64² ×2", convFlop, stage.Repeats * 2, () => nn.functional.conv2d(x, w, padding: [1, 1]));
        var convLast = Measured(stage with { Variant = "channels-last" }, "conv 3×3 320→320 64² ×2", convFlop, stage.Repeats * 2,
            () => nn.functional.conv2d(xLast, wLast, padding: [1, 1]));

        // The UNet's largest attention: 64×64 tokens, 8 heads of 40, batch 2 (512×512 images).
        using var q = randn(2, 8, 4096, 40).to(dtype);
        using var k = randn(2, 8, 4096, 40).to(dtype);
        using var v = randn(2, 8, 4096, 40).to(dtype);
        var attention = Measured(stage, "attention (SDPA) 4096 tokens, 8×40, ×2", 4.0 * 2 * 8 * 4096 * 4096 * 40 / 1e9, stage.Repeats * 2,
            () => nn.functional.scaled_dot_product_attention(q, k, v));
        return [matmul, conv, convLast, attention];
    }

    private StageResult Build(Stage stage)
    {
        var watch = Stopwatch.StartNew();
        RandomModelFolder.Create(paths);
        return new StageResult("build random SD1.5, save float16", stage.DType, 0, "", watch.Elapsed.TotalSeconds, null,
            MiB(ProcessMemory.PeakBytes()), 0, Note: $"{RandomModelFolder.WeightBytes(paths) / 1e9:F2} GB of weights");
    }

    private StageResult Load(Stage stage)
    {
        var before = ProcessMemory.ResidentBytes();
        var watch = Stopwatch.StartNew();
        using var pipeline = StableDiffusionPipeline.FromPretrained(paths.ModelDirectory, Options(stage));
        var seconds = watch.Elapsed.TotalSeconds;
        var weights = new ModelMixin[] { pipeline.Unet, pipeline.Vae, pipeline.TextEncoder }
            .Sum(m => m.parameters().Sum(p => p.NumberOfElements * p.ElementSize));
        return new StageResult("load pipeline (float16 files)", stage.DType, 0, "", seconds, null, MiB(ProcessMemory.PeakBytes()), MiB(before),
            Note: $"{MiB(weights):F0} MiB of weights in memory");
    }

    private StageResult Text(Stage stage)
    {
        var folder = Path.Combine(paths.ModelDirectory, "text_encoder");
        using var model = CLIPTextModel.FromPretrained(folder, Options(stage));
        var tokenizer = CLIPTokenizer.FromPretrained(Path.Combine(paths.ModelDirectory, "tokenizer"));
        using var ids = tokenizer.CallTensor([Prompt, ""], ContextLength);
        using var noGrad = no_grad();
        var gflop = FlopCounts.TextEncoder(model.Config, 2, ContextLength) / 1e9;
        return Measured(stage, "text encoder (prompt + negative)", gflop, stage.Repeats, () => model.Forward(ids).Dispose());
    }

    private StageResult UNetStep(Stage stage)
    {
        var dtype = DTypeOf(stage);
        var device = DeviceOf(stage);
        using var deviceMemory = GpuMemorySampler.Start(stage.Device);
        using var unet = UNet2DConditionModel.FromPretrained(Path.Combine(paths.ModelDirectory, "unet"), Options(stage));
        var latent = stage.Size / 8;
        using var generator = new Generator(0);
        using var sampleFirst = randn([2, 4, latent, latent], generator: generator).to(dtype, device);
        using var context = randn([2, ContextLength, 768], generator: generator).to(dtype, device);
        using var timestep = tensor(500L, device: device);
        var sample = sampleFirst;
        if (stage.Variant == "channels-last")
        {
            ChannelsLast.Apply(unet);
            sample = ChannelsLast.Of(sampleFirst);
        }
        if (stage.Variant == "sliced") unet.EnableAttentionSlicing();
        using var noGrad = no_grad();
        var gflop = FlopCounts.UNet(unet.Config, 2, latent, latent, ContextLength) / 1e9;
        var result = Measured(stage, "UNet step, guidance batch 2", gflop, stage.Repeats, () =>
        {
            unet.Forward(sample, timestep, context);
            Synchronize(stage);
        });
        return OnDevice(stage, result, deviceMemory, $"{1 / result.Seconds:F1} UNet steps/s");
    }

    private StageResult VaeDecode(Stage stage)
    {
        var dtype = DTypeOf(stage);
        using var vae = AutoencoderKL.FromPretrained(Path.Combine(paths.ModelDirectory, "vae"), Options(stage));
        var batch = stage.Variant.StartsWith("batch2", StringComparison.Ordinal) ? 2 : 1;
        if (stage.Variant is "tiled") vae.EnableTiling();
        if (stage.Variant is "batch2-sliced") vae.EnableSlicing();
        var latent = stage.Size / 8;
        using var generator = new Generator(0);
        using var z = randn([batch, 4, latent, latent], generator: generator).to(dtype);
        var gflop = FlopCounts.VaeDecode(vae.Config, latent, latent) * batch / 1e9;
        return Measured(stage, $"VAE decode ×{batch}", gflop, stage.Repeats, () => vae.Decode(z),
            stage.Variant == "tiled" ? "GFLOP counted untiled; tiles overlap and add work" : null);
    }

    private StageResult Generate(Stage stage)
    {
        using var deviceMemory = GpuMemorySampler.Start(stage.Device);
        // Under model CPU offload the weights load on the CPU and each model visits the device only while it runs.
        var offload = stage.Variant.EndsWith("offload", StringComparison.Ordinal);
        using var pipeline = StableDiffusionPipeline.FromPretrained(paths.ModelDirectory,
            offload ? Options(stage) with { Device = CPU } : Options(stage));
        if (offload) pipeline.EnableModelCpuOffload(DeviceOf(stage));
        if (stage.Variant.StartsWith("euler", StringComparison.Ordinal))
            pipeline.SetScheduler(SchedulerFactory.FromConfig("EulerDiscreteScheduler", pipeline.Scheduler.Config));
        var input = new StableDiffusionInput(Prompt) { Height = stage.Size, Width = stage.Size, NumInferenceSteps = stage.Steps, Seed = 0 };
        var latent = stage.Size / 8;
        var gflop = (FlopCounts.TextEncoder(pipeline.TextEncoder.Config, 2, ContextLength)
                     + stage.Steps * FlopCounts.UNet(pipeline.Unet.Config, 2, latent, latent, ContextLength)
                     + FlopCounts.VaeDecode(pipeline.Vae.Config, latent, latent)) / 1e9;
        var before = ProcessMemory.ResidentBytes();
        // The images come back to the CPU, so a run ends when the device's work does. Repeats after a warm-up run
        // (on CUDA, where the first run pays for kernel selection); one cold run otherwise.
        var seconds = stage.Repeats > 1
            ? Median(stage.Repeats, () => pipeline.Generate(input).Dispose())
            : Time(() => pipeline.Generate(input).Dispose());
        // The peak covers loading too: the weights arrive once, then the generation's activations come on top.
        var result = new StageResult($"generation, {stage.Steps} steps", stage.DType, stage.Size, stage.Variant, seconds, gflop,
            MiB(ProcessMemory.PeakBytes()), MiB(before));
        return OnDevice(stage, result, deviceMemory, $"{stage.Steps / seconds:F1} steps/s");
    }

    private static double Time(Action run)
    {
        var watch = Stopwatch.StartNew();
        run();
        return watch.Elapsed.TotalSeconds;
    }

    /// <summary>On an accelerator: the rate for comparison with diffusers' anchors and the peak device memory, in the note and the row.</summary>
    private static StageResult OnDevice(Stage stage, StageResult result, GpuMemorySampler deviceMemory, string rate)
    {
        if (stage.Device == "cpu") return result;
        var peak = deviceMemory.PeakAboveBaselineMiB;
        return result with
        {
            PeakDeviceMiB = peak,
            Note = peak is { } p ? $"{rate}, peak device memory {p / 1024:F2} GiB (nvidia-smi)" : $"{rate}, peak device memory not sampled (no nvidia-smi)",
        };
    }

    /// <summary>Resident memory over many generations with the tiny model: after warming up it must stay flat.</summary>
    private StageResult Flat(Stage stage)
    {
        using var pipeline = StableDiffusionPipeline.FromPretrained(paths.TinyModelDirectory);
        var input = new StableDiffusionInput("a red circle") { Height = 64, Width = 64, NumInferenceSteps = 4, NumImagesPerPrompt = 2 };
        for (var i = 0; i < 3; i++) pipeline.Generate(input with { Seed = i }).Dispose();
        GC.Collect();
        var before = ProcessMemory.ResidentBytes();
        ProcessMemory.ResetPeak();
        var watch = Stopwatch.StartNew();
        var halfway = 0L;
        for (var i = 0; i < stage.Steps; i++)
        {
            pipeline.Generate(input with { Seed = i }).Dispose();
            if (i == stage.Steps / 2 - 1) halfway = ProcessMemory.ResidentBytes();
        }
        var seconds = watch.Elapsed.TotalSeconds / stage.Steps;
        GC.Collect();
        var end = ProcessMemory.ResidentBytes();
        return new StageResult($"{stage.Steps} tiny-sd generations", stage.DType, 64, "", seconds, null, MiB(ProcessMemory.PeakBytes()), MiB(before),
            MiB(end), $"resident {MiB(before):F0} MiB after warm-up, {MiB(halfway):F0} halfway, {MiB(end):F0} at the end");
    }
}
