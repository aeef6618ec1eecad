using DiffusersSharp.Pipelines.ControlNet;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Serving.Tests.Support;

namespace DiffusersSharp.Serving.Tests;

public sealed class PipelineManagerTests
{
    private static PipelineKey Key(string model, PipelineTask task = PipelineTask.TextToImage, string? controlNet = null) =>
        new(model, task, null, "cpu", controlNet);

    [Fact]
    public async Task ConcurrentRequestsForOneModelShareOneLoad()
    {
        using var manager = new PipelineManager(TestModels.Options());
        var leases = await Task.WhenAll(manager.AcquireAsync(Key("tiny-sd")), manager.AcquireAsync(Key("tiny-sd")));
        try
        {
            Assert.Equal(1, manager.LoadCount);
            Assert.Same(leases[0].SharedPipeline, leases[1].SharedPipeline);
            Assert.Equal(2, Assert.Single(manager.LoadedModels).Leases);
        }
        finally
        {
            foreach (var lease in leases) lease.Dispose();
        }
        Assert.Equal(0, Assert.Single(manager.LoadedModels).Leases);
    }

    [Fact]
    public async Task TasksOfOneModelShareItsComponents()
    {
        using var manager = new PipelineManager(TestModels.Options());
        using var t2i = await manager.AcquireAsync(Key("tiny-sd"));
        using var img2img = await manager.AcquireAsync(Key("tiny-sd", PipelineTask.ImageToImage));
        using var inpaint = await manager.AcquireAsync(Key("tiny-sd", PipelineTask.Inpainting));
        using var controlNet = await manager.AcquireAsync(Key("tiny-sd", PipelineTask.ControlNet, "tiny-controlnet"));
        Assert.Equal(2, manager.LoadCount); // tiny-sd once, the ControlNet once
        var pipes = new[] { t2i.Pipeline, img2img.Pipeline, inpaint.Pipeline, controlNet.Pipeline };
        Assert.IsType<StableDiffusionPipeline>(pipes[0]);
        Assert.IsType<StableDiffusionImg2ImgPipeline>(pipes[1]);
        Assert.IsType<StableDiffusionInpaintPipeline>(pipes[2]);
        Assert.IsType<StableDiffusionControlNetPipeline>(pipes[3]);
        var shared = (StableDiffusionPipelineBase)t2i.SharedPipeline;
        foreach (var pipe in pipes.Cast<StableDiffusionPipelineBase>())
        {
            Assert.Same(shared.Unet, pipe.Unet);
            Assert.Same(shared.Vae, pipe.Vae);
            Assert.Same(shared.TextEncoder, pipe.TextEncoder);
        }
        // Each pipeline steps its own scheduler.
        Assert.Equal(pipes.Length, pipes.Select(p => p.Scheduler).Distinct().Count());
    }

    [Fact]
    public async Task LeastRecentlyUsedIsEvictedByBytesButNeverWhileInUse()
    {
        var metrics = new RecordingMetrics();
        using var manager = new PipelineManager(TestModels.Options(metrics));
        await manager.PreloadAsync("tiny-sd");
        var sd = manager.LoadedBytes;
        await manager.PreloadAsync("tiny-sd-inpaint");
        var inpaint = manager.LoadedBytes - sd;
        Assert.True(sd > 0 && inpaint > 0);

        // Room for either model, not both: the least recently used one goes.
        manager.MemoryBudgetBytes = sd + inpaint - 1;
        Assert.Equal(["tiny-sd"], metrics.Evicted);
        Assert.Equal(["tiny-sd-inpaint"], manager.LoadedModels.Select(m => m.Model));

        // Both in use: over budget, and nothing is evicted.
        var inpainting = await manager.AcquireAsync(Key("tiny-sd-inpaint", PipelineTask.Inpainting));
        var again = await manager.AcquireAsync(Key("tiny-sd"));
        Assert.Equal(sd + inpaint, manager.LoadedBytes);
        Assert.Single(metrics.Evicted);

        // Released, the inpainting model is the least recently used one not in use: it goes, tiny-sd stays.
        inpainting.Dispose();
        Assert.Equal(["tiny-sd", "tiny-sd-inpaint"], metrics.Evicted);
        Assert.Equal(["tiny-sd"], manager.LoadedModels.Select(m => m.Model));
        again.Dispose();
        Assert.Equal(sd, manager.LoadedBytes);
        Assert.Equal(3, manager.LoadCount);
    }

    [Fact]
    public async Task ModelNamesStayInsideTheModelsFolder()
    {
        using var manager = new PipelineManager(TestModels.Options());
        foreach (var name in new[] { "..", "../models/tiny-sd", "/tmp", "tiny-sd/../tiny-sd" })
        {
            var e = await Assert.ThrowsAsync<RequestValidationException>(() => manager.AcquireAsync(Key(name)));
            Assert.True(e.Errors.ContainsKey("model"), e.Message);
        }
        Assert.Equal(0, manager.LoadCount);
    }

    [Fact]
    public async Task GenerateAsyncGivesTheSamePicturesForASeedWhateverRanBefore()
    {
        using var manager = new PipelineManager(TestModels.Options());
        var request = TestModels.TextToImage() with { Scheduler = "ddim", NumImagesPerPrompt = 2 };
        var first = await manager.GenerateAsync(request);
        await manager.GenerateAsync(request with { Seed = 5, Scheduler = "euler-a" });
        var again = await manager.GenerateAsync(request);
        Assert.Equal(2, first.Images.Count);
        Assert.Equal(1, first.Seed);
        Assert.Equal((32, 32), Png.Size(first.Images[0]));
        Assert.Equal(first.Images, again.Images);
        Assert.NotEqual(first.Images[0], first.Images[1]);
    }

    [Fact]
    public async Task SchedulerAndOptionsApplyPerRequest()
    {
        using var manager = new PipelineManager(TestModels.Options());
        var euler = await manager.GenerateAsync(TestModels.TextToImage(steps: 3));
        var karras = await manager.GenerateAsync(TestModels.TextToImage(steps: 3) with { Scheduler = "euler-karras" });
        var overridden = await manager.GenerateAsync(TestModels.TextToImage(steps: 3) with
        {
            SchedulerOptions = new Dictionary<string, System.Text.Json.JsonElement> { ["use_karras_sigmas"] = System.Text.Json.JsonDocument.Parse("true").RootElement },
        });
        Assert.NotEqual(euler.Images[0], karras.Images[0]);
        Assert.Equal(karras.Images[0], overridden.Images[0]);
        Assert.Equal(euler.Images[0], (await manager.GenerateAsync(TestModels.TextToImage(steps: 3))).Images[0]);
    }

    [Fact]
    public async Task GenerateAsyncRunsEveryTask()
    {
        using var manager = new PipelineManager(TestModels.Options());
        var image = Png.Noise(40, 32);
        var img2img = await manager.GenerateAsync(new GenerationRequest { Prompt = "x", Image = image, NumInferenceSteps = 2, Strength = 0.5, Seed = 0 });
        var inpaint = await manager.GenerateAsync(new GenerationRequest { Prompt = "x", Image = image, MaskImage = Png.HalfMask(40, 32), NumInferenceSteps = 2, Seed = 0 });
        var inpaintModel = await manager.GenerateAsync(new GenerationRequest { Model = "tiny-sd-inpaint", Prompt = "x", Image = image, MaskImage = Png.HalfMask(40, 32), NumInferenceSteps = 2, Seed = 0 });
        var control = await manager.GenerateAsync(new GenerationRequest { Prompt = "x", ControlImage = image, ControlNet = "tiny-controlnet", NumInferenceSteps = 2, Seed = 0 });
        var xl = await manager.GenerateAsync(new GenerationRequest { Model = "tiny-sdxl", Prompt = "x", Width = 32, Height = 32, NumInferenceSteps = 2, Seed = 0, OriginalSize = [64, 64] });
        foreach (var output in new[] { img2img, inpaint, inpaintModel, control })
            Assert.Equal((40, 32), Png.Size(Assert.Single(output.Images)));
        Assert.Equal((32, 32), Png.Size(Assert.Single(xl.Images)));
    }

    [Fact]
    public async Task CancellingStopsWithinOneStep()
    {
        using var manager = new PipelineManager(TestModels.Options());
        using var cts = new CancellationTokenSource();
        var steps = new List<int>();
        var progress = new SyncProgress<GenerationProgress>(p =>
        {
            steps.Add(p.Step);
            if (p.Step == 1) cts.Cancel();
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => manager.GenerateAsync(TestModels.TextToImage(steps: 20), progress, cts.Token));
        Assert.Equal([1], steps);
    }

    [Fact]
    public void BadOptionsAreRefusedUpFront()
    {
        Assert.Throws<ArgumentException>(() => new PipelineManager(TestModels.Options() with { Device = "warp:9" }));
        Assert.Throws<DirectoryNotFoundException>(() => new PipelineManager(TestModels.Options() with { ModelsDirectory = "/no/such/models" }));
    }
}
