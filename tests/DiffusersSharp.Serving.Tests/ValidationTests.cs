using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusersSharp.Serving.Tests.Support;

namespace DiffusersSharp.Serving.Tests;

public sealed class ValidationTests
{
    private static readonly byte[] Image64 = Png.Noise(64, 64);
    private static readonly GenerationRequest Good = TestModels.TextToImage();

    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    /// <summary>Bad requests, each with the field (diffusers' parameter name) its error must name.</summary>
    private static readonly Dictionary<string, (GenerationRequest Request, string Field)> Cases = new()
    {
        ["model with .."] = (Good with { Model = "../tiny-sd" }, "model"),
        ["model absolute"] = (Good with { Model = "/etc" }, "model"),
        ["model with separator"] = (Good with { Model = "tiny-sd/unet" }, "model"),
        ["model unknown"] = (Good with { Model = "no-such-model" }, "model"),
        ["model is a ControlNet"] = (Good with { Model = "tiny-controlnet" }, "model"),
        ["prompt missing"] = (Good with { Prompt = null }, "prompt"),
        ["prompt too long"] = (Good with { Prompt = new string('a', 5000) }, "prompt"),
        ["negative prompt too long"] = (Good with { NegativePrompt = new string('a', 5000) }, "negative_prompt"),
        ["steps 0"] = (Good with { NumInferenceSteps = 0 }, "num_inference_steps"),
        ["steps over the limit"] = (Good with { NumInferenceSteps = 151 }, "num_inference_steps"),
        ["guidance NaN"] = (Good with { GuidanceScale = double.NaN }, "guidance_scale"),
        ["guidance negative"] = (Good with { GuidanceScale = -1 }, "guidance_scale"),
        ["guidance huge"] = (Good with { GuidanceScale = 1000 }, "guidance_scale"),
        ["guidance infinite"] = (Good with { GuidanceScale = double.PositiveInfinity }, "guidance_scale"),
        ["guidance_rescale above 1"] = (Good with { GuidanceRescale = 1.5 }, "guidance_rescale"),
        ["clip_skip at the layer count"] = (Good with { ClipSkip = 5 }, "clip_skip"),
        ["clip_skip negative"] = (Good with { ClipSkip = -1 }, "clip_skip"),
        ["width not a multiple of 8"] = (Good with { Width = 65 }, "width"),
        ["height zero"] = (Good with { Height = 0 }, "height"),
        ["too many pixels"] = (Good with { Width = 4096, Height = 4096 }, "width"),
        ["num_images_per_prompt 0"] = (Good with { NumImagesPerPrompt = 0 }, "num_images_per_prompt"),
        ["num_images_per_prompt over the limit"] = (Good with { NumImagesPerPrompt = 9 }, "num_images_per_prompt"),
        ["seed negative"] = (Good with { Seed = -1 }, "seed"),
        ["scheduler unknown"] = (Good with { Scheduler = "warp-drive" }, "scheduler"),
        ["scheduler option unknown"] = (Good with { SchedulerOptions = new Dictionary<string, JsonElement> { ["warp"] = Json("1") } }, "scheduler_options"),
        ["scheduler option of the wrong type"] = (Good with { SchedulerOptions = new Dictionary<string, JsonElement> { ["use_karras_sigmas"] = Json("\"yes\"") } }, "scheduler_options"),
        ["scheduler option with a bad value"] = (Good with { Scheduler = "dpm++2m", SchedulerOptions = new Dictionary<string, JsonElement> { ["algorithm_type"] = Json("\"bogus\"") } }, "scheduler_options"),
        ["image-to-image without image"] = (Good with { Task = PipelineTask.ImageToImage, Width = null, Height = null }, "image"),
        ["inpainting without mask"] = (Good with { Task = PipelineTask.Inpainting, Image = Image64 }, "mask_image"),
        ["controlnet without control image"] = (Good with { Task = PipelineTask.ControlNet, ControlNet = "tiny-controlnet" }, "control_image"),
        ["controlnet without controlnet"] = (Good with { ControlImage = Image64 }, "controlnet"),
        ["controlnet that is not one"] = (Good with { ControlImage = Image64, ControlNet = "tiny-sd" }, "controlnet"),
        ["image not an image"] = (Good with { Image = "not a picture"u8.ToArray(), Width = null, Height = null }, "image"),
        ["image empty"] = (Good with { Image = [], Width = null, Height = null }, "image"),
        ["image header claims 100000x100000"] = (Good with { Image = Png.BombHeader(100_000, 100_000), Width = null, Height = null }, "image"),
        ["image corrupt"] = (Good with { Image = Image64[..(Image64.Length / 2)], Width = null, Height = null }, "image"),
        ["mask of another size"] = (Good with { Image = Image64, MaskImage = Png.HalfMask(32, 32) }, "mask_image"),
        ["strength 0"] = (Good with { Image = Image64, Width = null, Height = null, Strength = 0 }, "strength"),
        ["strength above 1"] = (Good with { Image = Image64, Width = null, Height = null, Strength = 1.5 }, "strength"),
        ["strength leaving no step"] = (Good with { Image = Image64, Width = null, Height = null, Strength = 0.1, NumInferenceSteps = 4 }, "strength"),
        ["strength on text-to-image"] = (Good with { Strength = 0.5 }, "strength"),
        ["width on image-to-image"] = (Good with { Image = Image64, Height = null }, "width"),
        ["image on text-to-image"] = (Good with { Task = PipelineTask.TextToImage, Image = Image64 }, "image"),
        ["controlnet scale negative"] = (Good with { ControlImage = Image64, ControlNet = "tiny-controlnet", ControlNetConditioningScale = -1 }, "controlnet_conditioning_scale"),
        ["control start after end"] = (Good with { ControlImage = Image64, ControlNet = "tiny-controlnet", ControlGuidanceStart = 0.8, ControlGuidanceEnd = 0.5 }, "control_guidance_start"),
        ["control end above 1"] = (Good with { ControlImage = Image64, ControlNet = "tiny-controlnet", ControlGuidanceEnd = 1.5 }, "control_guidance_end"),
        ["controlnet scale on text-to-image"] = (Good with { ControlNetConditioningScale = 0.5 }, "controlnet_conditioning_scale"),
        ["original_size of 1 value"] = (Good with { Model = "tiny-sdxl", OriginalSize = [64] }, "original_size"),
        ["target_size of 3 values"] = (Good with { Model = "tiny-sdxl", TargetSize = [64, 64, 64] }, "target_size"),
        ["crops_coords_top_left negative"] = (Good with { Model = "tiny-sdxl", CropsCoordsTopLeft = [-1, 0] }, "crops_coords_top_left"),
        ["original_size on Stable Diffusion"] = (Good with { OriginalSize = [64, 64] }, "original_size"),
        ["text-to-image on an inpainting model"] = (Good with { Model = "tiny-sd-inpaint" }, "task"),
        ["image-to-image on SDXL"] = (Good with { Model = "tiny-sdxl", Image = Image64, Width = null, Height = null }, "task"),
    };

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    private static GenerationRequestValidator Validator() => new(new ModelCatalog(TestModels.Directory), TestModels.Options());

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void BadRequestIsRefusedNamingTheField(string name)
    {
        var (request, field) = Cases[name];
        var e = Assert.Throws<RequestValidationException>(() => Validator().Validate(request));
        Assert.True(e.Errors.ContainsKey(field), $"{name}: expected an error for '{field}', got: {e.Message}");
        Assert.All(e.Errors[field], m => Assert.False(string.IsNullOrWhiteSpace(m)));
    }

    [Fact]
    public void TableHasEnoughCases() => Assert.True(Cases.Count >= 30);

    [Fact]
    public void RangeErrorsSayWhatIsAllowed()
    {
        var e = Assert.Throws<RequestValidationException>(() => Validator().Validate(Good with { NumInferenceSteps = 0, GuidanceRescale = 2 }));
        Assert.Contains("[1, 150]", e.Errors["num_inference_steps"][0]);
        Assert.Contains("[0, 1]", e.Errors["guidance_rescale"][0]);
    }

    [Fact]
    public void HugeHeaderIsRefusedFromTheHeader()
    {
        var e = Assert.Throws<RequestValidationException>(() => Validator().Validate(Good with { Image = Png.BombHeader(100_000, 100_000), Width = null, Height = null }));
        Assert.Contains("100000x100000", e.Errors["image"][0]);
    }

    [Fact]
    public void DefaultsFollowThePipelines()
    {
        var validator = Validator();
        var t2i = validator.Validate(new GenerationRequest { Prompt = "x" });
        Assert.Equal(("tiny-sd", PipelineTask.TextToImage, 50, 7.5, 256, 256), (t2i.Model.Name, t2i.Task, t2i.NumInferenceSteps, t2i.GuidanceScale, t2i.Width, t2i.Height));
        Assert.Equal("PNDMScheduler", t2i.Scheduler.ClassName);
        Assert.Null(t2i.CacheKey);

        var xl = validator.Validate(new GenerationRequest { Model = "tiny-sdxl", Prompt = "x" });
        Assert.Equal(5.0, xl.GuidanceScale);

        var img2img = validator.Validate(new GenerationRequest { Prompt = "x", Image = Png.Noise(44, 36) });
        Assert.Equal((PipelineTask.ImageToImage, 40, 32, 0.8), (img2img.Task, img2img.Width, img2img.Height, img2img.Strength));

        var inpaint = validator.Validate(new GenerationRequest { Prompt = "x", Image = Image64, MaskImage = Png.HalfMask(64, 64) });
        Assert.Equal((PipelineTask.Inpainting, 1.0), (inpaint.Task, inpaint.Strength));
    }

    [Fact]
    public void SchedulerAliasesAndOptionsResolve()
    {
        var r = Validator().Validate(Good with { Scheduler = "dpm++2m-karras", SchedulerOptions = new Dictionary<string, JsonElement> { ["solver_order"] = Json("3") } });
        Assert.Equal("DPMSolverMultistepScheduler", r.Scheduler.ClassName);
        Assert.Equal(3, r.Scheduler.Overrides["solver_order"]!.GetValue<int>());
        Assert.True(r.Scheduler.Overrides["use_karras_sigmas"]!.GetValue<bool>());
    }

    [Fact]
    public void BatchKeysGroupWhatCanShareACall()
    {
        var validator = Validator();
        var a = validator.Validate(Good with { Prompt = "a", Seed = 1 });
        var b = validator.Validate(Good with { Prompt = "b", Seed = 2 });
        Assert.NotNull(a.BatchKey);
        Assert.Equal(a.BatchKey, b.BatchKey);
        Assert.NotEqual(a.BatchKey, validator.Validate(Good with { Width = 40 }).BatchKey);
        // Stable Diffusion reads a missing negative prompt as ""; SDXL makes zeros of it, so there it splits batches.
        Assert.Equal(a.BatchKey, validator.Validate(Good with { NegativePrompt = "blur" }).BatchKey);
        var xl = validator.Validate(Good with { Model = "tiny-sdxl" });
        Assert.NotEqual(xl.BatchKey, validator.Validate(Good with { Model = "tiny-sdxl", NegativePrompt = "blur" }).BatchKey);
        // Ancestral samplers draw noise at every step from the call's one generator: never batched.
        Assert.Null(validator.Validate(Good with { Scheduler = "euler-a" }).BatchKey);
        Assert.Null(validator.Validate(Good with { Image = Image64, Width = null, Height = null }).BatchKey);
    }

    [Fact]
    public void CacheKeysCoverParametersAndImages()
    {
        var validator = Validator();
        var request = Good with { Image = Image64, Width = null, Height = null };
        var key = validator.Validate(request).CacheKey;
        Assert.NotNull(key);
        Assert.Equal(key, validator.Validate(request with { Image = [.. Image64] }).CacheKey);
        Assert.NotEqual(key, validator.Validate(request with { Image = Png.Noise(64, 64, seed: 7) }).CacheKey);
        Assert.NotEqual(key, validator.Validate(request with { Seed = 2 }).CacheKey);
        Assert.NotEqual(key, validator.Validate(request with { GuidanceScale = 7 }).CacheKey);
        Assert.Null(validator.Validate(request with { Seed = null }).CacheKey);
    }

    [Fact]
    public void AModelWhoseDefaultSizeIsNoMultipleOf8AsksForTheSize()
    {
        var models = Directory.CreateTempSubdirectory("serving-models-").FullName;
        try
        {
            // tiny-sd with a three-level VAE (scale factor 4, as the demo model's) and a UNet sample_size of 17: its
            // default text-to-image size is 17 × 4 = 68 pixels.
            var source = Path.Combine(TestModels.Directory, "tiny-sd");
            foreach (var file in Directory.GetFiles(source, "*.json", SearchOption.AllDirectories))
            {
                var target = Path.Combine(models, "odd", Path.GetRelativePath(source, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target);
            }
            void Edit(string component, string key, JsonNode value)
            {
                var path = Path.Combine(models, "odd", component, "config.json");
                var config = JsonNode.Parse(File.ReadAllText(path))!;
                config[key] = value;
                File.WriteAllText(path, config.ToJsonString());
            }
            Edit("unet", "sample_size", 17);
            Edit("vae", "block_out_channels", new JsonArray(32, 32, 32));
            var validator = new GenerationRequestValidator(new ModelCatalog(models), TestModels.Options() with { ModelsDirectory = models, DefaultModel = "odd" });
            var e = Assert.Throws<RequestValidationException>(() => validator.Validate(Good with { Model = "odd", Width = null, Height = null }));
            Assert.Contains("defaults to 68, which is not a multiple of 8", e.Errors["width"][0]);
            Assert.Contains("defaults to 68", e.Errors["height"][0]);
            validator.Validate(Good with { Model = "odd", Width = 32, Height = 32 });
        }
        finally
        {
            Directory.Delete(models, recursive: true);
        }
    }

    [Fact]
    public void FoldersWithoutARunnableModelAreRefusedUnderTheirField()
    {
        var models = Directory.CreateTempSubdirectory("serving-models-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(models, "ddpm"));
            File.WriteAllText(Path.Combine(models, "ddpm", "model_index.json"), """{"_class_name": "DDPMPipeline", "unet": ["diffusers", "UNet2DModel"]}""");
            Directory.CreateDirectory(Path.Combine(models, "empty"));
            var catalog = new ModelCatalog(models);
            Assert.Equal(["ddpm"], catalog.Names());
            var e = Assert.Throws<RequestValidationException>(() => catalog.Resolve("ddpm", "model"));
            Assert.Contains("DDPMPipeline", e.Errors["model"][0]);
            Assert.True(Assert.Throws<RequestValidationException>(() => catalog.Resolve("empty", "controlnet")).Errors.ContainsKey("controlnet"));
        }
        finally
        {
            Directory.Delete(models, recursive: true);
        }
    }
}
