using System.Text.Json.Nodes;
using DiffusersSharp.Images;
using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusionXL;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tests.Support;
using DiffusersSharp.Tokenizers;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

public class SdxlPipelineTests
{
    public static TheoryData<string> Txt2ImgCases() => new(FixtureCase.List("pipelines", "sdxl_txt2img_"));

    internal static string TinySdxl => FixtureCase.PathOf("models/tiny-sdxl");

    /// <summary>Builds the pipeline call a fixture manifest describes, scheduler swap included.</summary>
    internal static (StableDiffusionXLPipeline Pipeline, StableDiffusionXLInput Input) FromManifest(FixtureCase fixture)
    {
        var m = fixture.Manifest;
        var pipeline = StableDiffusionXLPipeline.FromPretrained(fixture.ModelPath(m["model"]!.GetValue<string>()));
        PipelineFixture.SwapScheduler(fixture, pipeline);
        var call = m["call"]!.AsObject();
        var input = PipelineFixture.WithCommonArguments(fixture, new StableDiffusionXLInput
        {
            Prompt2 = PipelineFixture.Strings(call["prompt_2"]),
            NegativePrompt2 = PipelineFixture.Strings(call["negative_prompt_2"]),
            Height = call["height"]?.GetValue<int>(),
            Width = call["width"]?.GetValue<int>(),
            Latents = PipelineFixture.TensorArgument(fixture, "latents"),
        });
        return (pipeline, input);
    }

    [Theory]
    [MemberData(nameof(Txt2ImgCases))]
    public void MatchesDiffusers(string caseName)
    {
        using var fixture = FixtureCase.Load(caseName);
        var (pipeline, input) = FromManifest(fixture);
        using var _ = pipeline;

        var expectedSteps = fixture.Tensor("step_prev_sample");
        var expectedTimesteps = fixture.Tensor("step_timesteps");
        var seen = 0;
        using var output = pipeline.Generate(input with
        {
            CallbackOnStepEnd = args =>
            {
                Assert.Equal(expectedTimesteps[args.Step].item<double>(), args.Timestep.to(ScalarType.Float64).item<double>());
                TensorAssert.Close(expectedSteps[args.Step], args.Latents, 1e-4, $"latents after step {args.Step}");
                seen++;
            },
        });
        Assert.Equal(expectedSteps.shape[0], seen);
        TensorAssert.ImagesClose(fixture.Tensor("images"), output.Images!);

        using var latents = pipeline.Generate(input with { OutputType = OutputType.Latent });
        TensorAssert.Close(fixture.Tensor("latents_out"), latents.Latents!, 1e-4, "latents_out");
    }

    /// <summary>The UNet's first-call conditioning diffusers recorded: CFG batch [uncond; cond] of embeddings, pooled embeddings and time ids.</summary>
    [Theory]
    [MemberData(nameof(Txt2ImgCases))]
    public void EncodesPromptAndTimeIdsAsDiffusers(string caseName)
    {
        using var fixture = FixtureCase.Load(caseName);
        var (pipeline, input) = FromManifest(fixture);
        using var _ = pipeline;
        using var scope = NewDisposeScope();
        var doCfg = input.GuidanceScale > 1;

        using var embeds = pipeline.EncodePrompt(input, doCfg);
        var hidden = doCfg ? cat([embeds.NegativePromptEmbeds!, embeds.PromptEmbeds]) : embeds.PromptEmbeds;
        var pooled = doCfg ? cat([embeds.NegativePooledPromptEmbeds!, embeds.PooledPromptEmbeds]) : embeds.PooledPromptEmbeds;
        TensorAssert.Close(fixture.Tensor("unet_encoder_hidden_states"), hidden, 1e-5, "encoder_hidden_states");
        TensorAssert.Close(fixture.Tensor("unet_added_cond_kwargs_text_embeds"), pooled, 1e-5, "text_embeds");

        var size = (input.Height!.Value, input.Width!.Value);
        var timeIds = pipeline.GetAddTimeIds(size, (0, 0), size, ScalarType.Float32);
        TensorAssert.Equal(fixture.Tensor("unet_added_cond_kwargs_time_ids"), timeIds.repeat(doCfg ? 2 : 1, 1), "time_ids");
    }

    /// <summary>
    /// Prompt embeddings computed once and given back (as for prompt weighting) take the place of the prompt exactly:
    /// the result is still diffusers' latents_out.
    /// </summary>
    [Fact]
    public void PrecomputedEmbeddingsGiveTheSameResult()
    {
        using var fixture = FixtureCase.Load("pipelines/sdxl_txt2img_euler_seed31");
        var (pipeline, input) = FromManifest(fixture);
        using var _ = pipeline;
        using var embeds = pipeline.EncodePrompt(input, doClassifierFreeGuidance: true);
        using var output = pipeline.Generate(input with
        {
            Prompt = null,
            PromptEmbeds = embeds.PromptEmbeds,
            PooledPromptEmbeds = embeds.PooledPromptEmbeds,
            NegativePromptEmbeds = embeds.NegativePromptEmbeds,
            NegativePooledPromptEmbeds = embeds.NegativePooledPromptEmbeds,
            OutputType = OutputType.Latent,
        });
        TensorAssert.Close(fixture.Tensor("latents_out"), output.Latents!, 1e-4, "latents_out");
    }

    /// <summary>
    /// The "ensemble of expert denoisers" hand-over: the base stops at denoising_end = 0.8 and an image-to-image
    /// pipeline on the same weights continues from denoising_start = 0.8. Together they must run diffusers' full
    /// schedule exactly once, so the refined result is the fixture's full 10-step run.
    /// </summary>
    [Fact]
    public void BaseThenRefinerAtTheSameFractionReproducesTheFullRun()
    {
        using var fixture = FixtureCase.Load("pipelines/sdxl_txt2img_euler_seed31");
        var (basePipeline, input) = FromManifest(fixture);
        using var _ = basePipeline;
        using var refiner = StableDiffusionXLImg2ImgPipeline.FromPretrained(TinySdxl);
        var expectedSteps = fixture.Tensor("step_prev_sample");
        var expectedTimesteps = fixture.Tensor("step_timesteps");
        var steps = new List<int>();
        StepEndCallback check(int offset) => args =>
        {
            var i = args.Step + offset;
            Assert.Equal(expectedTimesteps[i].item<double>(), args.Timestep.to(ScalarType.Float64).item<double>());
            TensorAssert.Close(expectedSteps[i], args.Latents, 1e-4, $"latents after step {i}");
            steps.Add(i);
        };

        // Cut-off int(round(1000 - 0.8 * 1000)) = 200: the base runs 901 … 201, the refiner 101 and 1.
        using var handOver = basePipeline.Generate(input with { DenoisingEnd = 0.8, OutputType = OutputType.Latent, CallbackOnStepEnd = check(0) });
        var refinerInput = new StableDiffusionXLImg2ImgInput
        {
            Prompt = input.Prompt,
            Image = handOver.Latents,
            DenoisingStart = 0.8,
            NumInferenceSteps = input.NumInferenceSteps,
            GuidanceScale = input.GuidanceScale,
            Seed = input.Seed,
            CallbackOnStepEnd = check(8),
        };
        using var refined = refiner.Generate(refinerInput);
        Assert.Equal(Enumerable.Range(0, 10), steps);
        Assert.Equal(8, refiner.Scheduler.BeginIndex);
        TensorAssert.ImagesClose(fixture.Tensor("images"), refined.Images!);

        using var refinedLatents = refiner.Generate(refinerInput with { OutputType = OutputType.Latent, CallbackOnStepEnd = null });
        TensorAssert.Close(fixture.Tensor("latents_out"), refinedLatents.Latents!, 1e-4, "latents_out");
    }

    /// <summary>
    /// Strength 1 without denoising_start starts image-to-image from pure noise at the top of the schedule. With
    /// trailing spacing Euler's init_noise_sigma is σ_max, the σ add_noise applies at the first timestep, so on zero
    /// latents image-to-image starts from the very latents text-to-image draws (same generator draw) and must end
    /// where text-to-image ends.
    /// </summary>
    [Fact]
    public void FullStrengthOnZeroLatentsIsTextToImage()
    {
        using var text = StableDiffusionXLPipeline.FromPretrained(TinySdxl);
        using var image = StableDiffusionXLImg2ImgPipeline.FromPretrained(TinySdxl);
        foreach (var pipeline in new DiffusionPipeline[] { text, image })
        {
            var config = pipeline.Scheduler.Config.Clone();
            config["timestep_spacing"] = "trailing";
            pipeline.SetScheduler(SchedulerFactory.FromConfig("EulerDiscreteScheduler", config));
        }

        using var expected = text.Generate(new StableDiffusionXLInput("a lighthouse") { Height = 64, Width = 64, NumInferenceSteps = 4, Seed = 7, OutputType = OutputType.Latent });
        using var zeroLatents = zeros(1, 4, 8, 8);
        using var actual = image.Generate(new StableDiffusionXLImg2ImgInput("a lighthouse", zeroLatents)
        {
            Strength = 1.0, NumInferenceSteps = 4, Seed = 7, OutputType = OutputType.Latent,
        });
        Assert.Equal(0, image.Scheduler.BeginIndex);
        TensorAssert.Close(expected.Latents!, actual.Latents!, 1e-6, "latents");
    }

    /// <summary>diffusers' get_timesteps on tiny-sdxl's Euler schedule (leading: 901, 801, …, 1).</summary>
    [Theory]
    [InlineData(0.3, null, new[] { 201.0, 101, 1 }, 7)]           // int(10 · 0.3) = 3 steps
    [InlineData(1.0, null, new[] { 901.0, 801, 701, 601, 501, 401, 301, 201, 101, 1 }, 0)]
    [InlineData(0.3, 0.8, new[] { 101.0, 1 }, 8)]                 // cut-off 200; strength is ignored
    [InlineData(0.9, 0.75, new[] { 201.0, 101, 1 }, 7)]           // cut-off 250
    [InlineData(0.9, 0.55, new[] { 401.0, 301, 201, 101, 1 }, 5)] // cut-off 450
    public void ImageToImageTimestepsAreDiffusers(double strength, double? denoisingStart, double[] expected, int beginIndex)
    {
        using var pipeline = StableDiffusionXLImg2ImgPipeline.FromPretrained(TinySdxl);
        pipeline.Scheduler.SetTimesteps(10);
        var (timesteps, count) = pipeline.GetTimesteps(10, strength, denoisingStart);
        Assert.Equal(expected, timesteps.to(ScalarType.Float64).data<double>().ToArray());
        Assert.Equal(expected.Length, count);
        Assert.Equal(beginIndex, pipeline.Scheduler.BeginIndex);
    }

    /// <summary>
    /// A second-order schedule (each timestep but the first twice, as Heun's: a step is evaluated at indices 2j and
    /// 2j + 1 after the first) starts on an even index, never between a step's two evaluations.
    /// </summary>
    [Theory]
    [InlineData(0.25, new[] { 799.0, 699, 699 }, 4)]                  // 2 timesteps below 750, even: one more
    [InlineData(0.15, new[] { 899.0, 799, 799, 699, 699 }, 2)]        // 4 below 850, even: one more
    [InlineData(0.05, new[] { 999.0, 899, 899, 799, 799, 699, 699 }, 0)] // 6 below 950: the whole schedule
    public void SecondOrderSchedulesStartOnAWholeStep(double denoisingStart, double[] expected, int beginIndex)
    {
        using var pipeline = StableDiffusionXLImg2ImgPipeline.FromPretrained(TinySdxl);
        pipeline.SetScheduler(new SecondOrderSchedule());
        pipeline.Scheduler.SetTimesteps(4);
        var (timesteps, _) = pipeline.GetTimesteps(4, 0.5, denoisingStart);
        Assert.Equal(expected, timesteps.to(ScalarType.Float64).data<double>().ToArray());
        Assert.Equal(beginIndex, pipeline.Scheduler.BeginIndex);

        // By strength, whole steps are skipped: 2 of 4 steps → from index 2 · order.
        pipeline.Scheduler.SetTimesteps(4);
        var (byStrength, steps) = pipeline.GetTimesteps(4, 0.5, null);
        Assert.Equal(new[] { 799.0, 699, 699 }, byStrength.to(ScalarType.Float64).data<double>().ToArray());
        Assert.Equal(2, steps);
        Assert.Equal(4, pipeline.Scheduler.BeginIndex);
    }

    /// <summary>Heun's timestep layout for 4 steps; only the schedule matters here.</summary>
    private sealed class SecondOrderSchedule() : SchedulerMixin(new ModelConfig(), [("num_train_timesteps", 1000)])
    {
        public override string ClassName => "SecondOrderSchedule";
        public override int Order => 2;

        public override void SetTimesteps(int numInferenceSteps, Device? device = null) =>
            SetTimestepsTensor(tensor(new float[] { 999, 899, 899, 799, 799, 699, 699 }));

        public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0) =>
            throw new NotSupportedException();
    }

    [Fact]
    public void ImageToImageRunsTheStrengthsShareOfTheSteps()
    {
        using var pipeline = StableDiffusionXLImg2ImgPipeline.FromPretrained(TinySdxl);
        using var pixels = ImageIO.LoadRgb(FixtureCase.PathOf("inputs/init_64x96.png"));
        var steps = 0;
        using var output = pipeline.Generate(new StableDiffusionXLImg2ImgInput("a lighthouse", pixels)
        {
            Strength = 0.6, NumInferenceSteps = 5, Seed = 3, NumImagesPerPrompt = 2, CallbackOnStepEnd = _ => steps++,
        });
        Assert.Equal(3, steps);
        Assert.Equal(new long[] { 2, 64, 96, 3 }, output.Images!.shape);
    }

    /// <summary>
    /// A refiner-layout folder: no text_encoder/tokenizer ([null, null] in model_index.json), a UNet conditioned on
    /// text_encoder_2 alone and on the aesthetic score. Built in code (random UNet), saved, reopened and run.
    /// </summary>
    [Fact]
    public void RefinerLayoutLoadsWithoutTextEncoderAndUsesAestheticScore()
    {
        var unetConfig = ModelConfig.Load(Path.Combine(TinySdxl, "unet", "config.json"));
        unetConfig["cross_attention_dim"] = 16;                           // text_encoder_2's width only
        unetConfig["projection_class_embeddings_input_dim"] = 8 * 5 + 24; // five time ids + the pooled embedding
        var refinerUnet = new UNet2DConditionModel(unetConfig);
        // Weights: tiny-sdxl's, cut to the narrower cross-attention and add_embedding inputs.
        using (var source = UNet2DConditionModel.FromPretrained(Path.Combine(TinySdxl, "unet")))
        using (no_grad())
        {
            var sourceWeights = source.state_dict();
            foreach (var (name, target) in refinerUnet.state_dict())
            {
                using var sliceScope = NewDisposeScope();
                var slice = sourceWeights[name];
                for (var d = 0; d < target.ndim; d++) slice = slice.narrow(d, 0, target.shape[d]);
                target.copy_(slice);
            }
        }
        var dir = Directory.CreateTempSubdirectory("ds-refiner-").FullName;
        using (var built = new StableDiffusionXLImg2ImgPipeline(
            AutoencoderKL.FromPretrained(Path.Combine(TinySdxl, "vae")), null,
            CLIPTextModelWithProjection.FromPretrained(Path.Combine(TinySdxl, "text_encoder_2")), null,
            CLIPTokenizer.FromPretrained(Path.Combine(TinySdxl, "tokenizer_2")), refinerUnet,
            SchedulerFactory.FromPretrained(Path.Combine(TinySdxl, "scheduler")), requiresAestheticsScore: true))
            built.SavePretrained(dir);
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "model_index.json")))!;
        Assert.Equal("StableDiffusionXLImg2ImgPipeline", index["_class_name"]!.GetValue<string>());
        Assert.Equal("[null,null]", index["text_encoder"]!.ToJsonString());
        Assert.Equal("[null,null]", index["tokenizer"]!.ToJsonString());
        Assert.True(index["requires_aesthetics_score"]!.GetValue<bool>());

        using var pipeline = Assert.IsType<StableDiffusionXLImg2ImgPipeline>(DiffusionPipeline.FromPretrained(dir));
        Assert.Null(pipeline.TextEncoder);
        Assert.True(pipeline.RequiresAestheticsScore);

        // Without text_encoder, diffusers encodes prompt (not prompt_2) with text_encoder_2: its penultimate layer alone.
        using var scope = NewDisposeScope();
        var input = new StableDiffusionXLImg2ImgInput { Prompt = ["a lighthouse"], Prompt2 = ["ignored"] };
        using var embeds = pipeline.EncodePrompt(input, doClassifierFreeGuidance: false);
        using var ids = pipeline.Tokenizer2.CallTensor(["a lighthouse"]);
        using var encoded = pipeline.TextEncoder2.Forward(ids, outputHiddenStates: true);
        TensorAssert.Equal(encoded.HiddenStates![^2], embeds.PromptEmbeds, "prompt_embeds");
        TensorAssert.Equal(encoded.TextEmbeds, embeds.PooledPromptEmbeds, "pooled_prompt_embeds");

        var (timeIds, negativeTimeIds) = pipeline.GetAddTimeIds((64, 96), (2, 4), (64, 64), 7.0, 1.5, (32, 48), (8, 8), (32, 32), ScalarType.Float32);
        TensorAssert.Equal(tensor(new float[,] { { 64, 96, 2, 4, 7 } }), timeIds, "add_time_ids");
        TensorAssert.Equal(tensor(new float[,] { { 32, 48, 8, 8, 1.5f } }), negativeTimeIds, "add_neg_time_ids");

        using var pixels = ImageIO.LoadRgb(FixtureCase.PathOf("inputs/init_64x64.png"));
        var refine = new StableDiffusionXLImg2ImgInput("a lighthouse", pixels) { NumInferenceSteps = 4, Strength = 0.5, Seed = 1, OutputType = OutputType.Latent };
        using var a = pipeline.Generate(refine);
        using var b = pipeline.Generate(refine with { AestheticScore = 2.0 });
        Assert.Equal(new long[] { 1, 4, 8, 8 }, a.Latents!.shape);
        Assert.False(a.Latents.isnan().any().item<bool>());
        Assert.False(a.Latents.allclose(b.Latents!), "the aesthetic score must reach the UNet");
    }

    [Fact]
    public void AestheticScoreOnABaseUNetSaysWhichWayToSetTheFlag()
    {
        using var components = StableDiffusionXLImg2ImgPipeline.FromPretrained(TinySdxl);
        using var pipeline = new StableDiffusionXLImg2ImgPipeline(components.Vae, components.TextEncoder, components.TextEncoder2,
            components.Tokenizer, components.Tokenizer2, components.Unet, SchedulerFactory.FromConfig("EulerDiscreteScheduler", components.Scheduler.Config),
            requiresAestheticsScore: true);
        using var latents = zeros(1, 4, 8, 8);
        var e = Assert.Throws<InvalidOperationException>(() => pipeline.Generate(new StableDiffusionXLImg2ImgInput("x", latents) { NumInferenceSteps = 2, Strength = 1 }));
        Assert.Contains("set requires_aesthetics_score to false", e.Message);
    }

    /// <summary>A float16 VAE with force_upcast decodes in float32 (bit-identical to a float32 VAE with the same rounded weights) and is float16 again after.</summary>
    [Fact]
    public void HalfPrecisionVaeIsUpcastForTheDecode()
    {
        using var pipeline = StableDiffusionXLPipeline.FromPretrained(TinySdxl);
        pipeline.Vae.MoveTo(null, ScalarType.Float16);
        pipeline.Vae.MoveTo(null, ScalarType.Float32);
        var input = new StableDiffusionXLInput("a lighthouse") { Height = 64, Width = 64, NumInferenceSteps = 2, Seed = 5 };
        using var reference = pipeline.Generate(input);

        pipeline.Vae.MoveTo(null, ScalarType.Float16);
        using var upcast = pipeline.Generate(input);
        Assert.Equal(ScalarType.Float16, pipeline.Vae.DType);
        TensorAssert.Equal(reference.Images!, upcast.Images!, "images");
    }

    /// <summary>With force_upcast false a float16 VAE decodes in float16: close to the float32 decode, but not equal to it.</summary>
    [Fact]
    public void HalfPrecisionVaeWithoutForceUpcastDecodesInHalfPrecision()
    {
        var dir = Directory.CreateTempSubdirectory("ds-sdxl-noupcast-").FullName;
        try
        {
            foreach (var entry in Directory.GetFileSystemEntries(TinySdxl).Where(e => Path.GetFileName(e) != "vae"))
            {
                var target = Path.Combine(dir, Path.GetFileName(entry));
                if (Directory.Exists(entry)) Directory.CreateSymbolicLink(target, entry);
                else File.Copy(entry, target);
            }
            var vaeDir = Directory.CreateDirectory(Path.Combine(dir, "vae")).FullName;
            foreach (var file in Directory.GetFiles(Path.Combine(TinySdxl, "vae")))
                File.Copy(file, Path.Combine(vaeDir, Path.GetFileName(file)));
            var config = ModelConfig.Load(Path.Combine(vaeDir, "config.json"));
            config["force_upcast"] = false;
            config.Save(Path.Combine(vaeDir, "config.json"));

            using var pipeline = StableDiffusionXLPipeline.FromPretrained(dir);
            Assert.False(pipeline.Vae.ForceUpcast);
            pipeline.Vae.MoveTo(null, ScalarType.Float16);
            pipeline.Vae.MoveTo(null, ScalarType.Float32);
            var input = new StableDiffusionXLInput("a lighthouse") { Height = 64, Width = 64, NumInferenceSteps = 2, Seed = 5 };
            using var reference = pipeline.Generate(input);

            pipeline.Vae.MoveTo(null, ScalarType.Float16);
            using var half = pipeline.Generate(input);
            Assert.Equal(ScalarType.Float16, pipeline.Vae.DType);
            Assert.True((reference.Images! - half.Images!).abs().max().item<float>() > 0, "a float16 decode should differ from the float32 one");
            Assert.True(ImageMetrics.Psnr(reference.Images!, half.Images!) > 30);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>With latents_mean/latents_std in the VAE config, decoding undoes that normalisation instead of the plain scaling factor.</summary>
    [Fact]
    public void LatentStatisticsOfTheVaeConfigAreUndoneBeforeDecoding()
    {
        var vaeDir = Directory.CreateTempSubdirectory("ds-vae-").FullName;
        foreach (var file in Directory.GetFiles(Path.Combine(TinySdxl, "vae")))
            File.Copy(file, Path.Combine(vaeDir, Path.GetFileName(file)));
        var config = ModelConfig.Load(Path.Combine(vaeDir, "config.json"));
        double[] mean = [0.1, -0.2, 0.3, 0.05], std = [0.9, 1.1, 0.8, 1.2];
        config["latents_mean"] = new JsonArray(mean.Select(v => (JsonNode?)v).ToArray());
        config["latents_std"] = new JsonArray(std.Select(v => (JsonNode?)v).ToArray());
        config.Save(Path.Combine(vaeDir, "config.json"));

        using var components = StableDiffusionXLPipeline.FromPretrained(TinySdxl);
        using var pipeline = new StableDiffusionXLPipeline(AutoencoderKL.FromPretrained(vaeDir), components.TextEncoder, components.TextEncoder2,
            components.Tokenizer, components.Tokenizer2, components.Unet, SchedulerFactory.FromConfig("EulerDiscreteScheduler", components.Scheduler.Config));
        var input = new StableDiffusionXLInput("a lighthouse") { Height = 64, Width = 64, NumInferenceSteps = 2, Seed = 5 };
        using var latents = pipeline.Generate(input with { OutputType = OutputType.Latent });
        using var images = pipeline.Generate(input);

        using var scope = NewDisposeScope();
        var denormalised = latents.Latents! * tensor(std, ScalarType.Float32).view(1, 4, 1, 1) / pipeline.Vae.ScalingFactor + tensor(mean, ScalarType.Float32).view(1, 4, 1, 1);
        var expected = pipeline.ImageProcessor.Postprocess(pipeline.Vae.Decode(denormalised));
        TensorAssert.CloseAbsolute(expected, images.Images!, 1e-6, "images");
    }

    [Fact]
    public void DefaultSizeIsTheUNetSampleSizeTimesTheVaeScale()
    {
        using var pipeline = StableDiffusionXLPipeline.FromPretrained(TinySdxl);
        using var output = pipeline.Generate(new StableDiffusionXLInput("x") { NumInferenceSteps = 1, Seed = 0, OutputType = OutputType.Latent });
        Assert.Equal(new long[] { 1, 4, 32, 32 }, output.Latents!.shape); // sample_size 32 → 256 px → 32 latents
    }

    /// <summary>Several prompts, each with its prompt_2, one negative pair for all, two images each: batch order as diffusers.</summary>
    [Fact]
    public void BatchesPromptsWithSecondPromptsAndImagesPerPrompt()
    {
        using var pipeline = StableDiffusionXLPipeline.FromPretrained(TinySdxl);
        var input = new StableDiffusionXLInput
        {
            Prompt = ["a cat", "a dog"], Prompt2 = ["oil", "ink"], NegativePrompt = ["blurry"], NegativePrompt2 = ["photo"],
            NumImagesPerPrompt = 2, Height = 64, Width = 64, NumInferenceSteps = 1, Seed = 0, OutputType = OutputType.Latent,
        };
        using var embeds = pipeline.EncodePrompt(input, doClassifierFreeGuidance: true);
        Assert.Equal(new long[] { 4, 77, 32 }, embeds.PromptEmbeds.shape);
        Assert.Equal(new long[] { 4, 24 }, embeds.PooledPromptEmbeds.shape);
        TensorAssert.Equal(embeds.PromptEmbeds[0], embeds.PromptEmbeds[1], "copies of the first prompt");
        Assert.False(embeds.PromptEmbeds[1].eq(embeds.PromptEmbeds[2]).all().item<bool>(), "second prompt");
        // Encoded as a batch of two equal rows, which may differ in the last bits.
        TensorAssert.Close(embeds.NegativePromptEmbeds![0], embeds.NegativePromptEmbeds[3], 1e-6, "one negative prompt for all");
        using var output = pipeline.Generate(input);
        Assert.Equal(new long[] { 4, 4, 8, 8 }, output.Latents!.shape);
    }

    [Fact]
    public void CancellationStopsBetweenSteps()
    {
        using var pipeline = StableDiffusionXLPipeline.FromPretrained(TinySdxl);
        using var cancel = new CancellationTokenSource();
        var steps = 0;
        var input = new StableDiffusionXLInput("x") { Height = 64, Width = 64, NumInferenceSteps = 5, Seed = 0, CallbackOnStepEnd = _ => { if (++steps == 2) cancel.Cancel(); } };
        Assert.Throws<OperationCanceledException>(() => pipeline.Generate(input, cancel.Token));
        Assert.Equal(2, steps);
    }

    public static TheoryData<string, string> BadTextToImageInputs() => new()
    {
        { "size", "divisible by 8" },
        { "prompt_2 count", "prompt_2 has 2 entries but prompt has 1" },
        { "prompt_2 and embeds", "prompt_2 or prompt_embeds" },
        { "embeds without pooled", "pooled_prompt_embeds" },
        { "negative_prompt_2 count", "negative_prompt_2 has 3 entries" },
        { "denoising_end", "denoising_end" },
        { "clip_skip", "clip_skip" },
    };

    [Theory]
    [MemberData(nameof(BadTextToImageInputs))]
    public void BadTextToImageInputIsRefusedByName(string what, string expected)
    {
        using var pipeline = StableDiffusionXLPipeline.FromPretrained(TinySdxl);
        using var embeds = zeros(1, 77, 32);
        var good = new StableDiffusionXLInput("x") { Height = 64, Width = 64, NumInferenceSteps = 1 };
        var bad = what switch
        {
            "size" => good with { Height = 60 },
            "prompt_2 count" => good with { Prompt2 = ["a", "b"] },
            "prompt_2 and embeds" => good with { Prompt = null, Prompt2 = ["a"], PromptEmbeds = embeds },
            "embeds without pooled" => good with { Prompt = null, PromptEmbeds = embeds },
            "negative_prompt_2 count" => good with { NegativePrompt = ["n"], NegativePrompt2 = ["a", "b", "c"] },
            "denoising_end" => good with { DenoisingEnd = 1.0 },
            "clip_skip" => good with { ClipSkip = 5 },
            _ => throw new ArgumentException(what),
        };
        var e = Assert.ThrowsAny<ArgumentException>(() => pipeline.Generate(bad));
        Assert.Contains(expected, e.Message);
    }

    public static TheoryData<string, string> BadImageToImageInputs() => new()
    {
        { "no image", "image is required" },
        { "strength", "strength must be in [0, 1]" },
        { "strength too small", "leaves no denoising step" },
        { "start after end", "denoising_start (0.8) must be smaller than denoising_end (0.5)" },
        { "denoising_start", "denoising_start must be a fraction" },
    };

    [Theory]
    [MemberData(nameof(BadImageToImageInputs))]
    public void BadImageToImageInputIsRefusedByName(string what, string expected)
    {
        using var pipeline = StableDiffusionXLImg2ImgPipeline.FromPretrained(TinySdxl);
        using var latents = zeros(1, 4, 8, 8);
        var good = new StableDiffusionXLImg2ImgInput("x", latents) { NumInferenceSteps = 10 };
        var bad = what switch
        {
            "no image" => good with { Image = null },
            "strength" => good with { Strength = 1.5 },
            "strength too small" => good with { Strength = 0.05 },
            "start after end" => good with { DenoisingStart = 0.8, DenoisingEnd = 0.5 },
            "denoising_start" => good with { DenoisingStart = 0.0 },
            _ => throw new ArgumentException(what),
        };
        var e = Assert.ThrowsAny<ArgumentException>(() => pipeline.Generate(bad));
        Assert.Contains(expected, e.Message);
    }

    /// <summary>diffusers' projection check: a text_encoder_2 whose projection does not fill the UNet's add_embedding.</summary>
    [Fact]
    public void MismatchedProjectionDimIsNamed()
    {
        var config = ModelConfig.Load(Path.Combine(TinySdxl, "text_encoder_2", "config.json"));
        config["projection_dim"] = 16;
        using var components = StableDiffusionXLPipeline.FromPretrained(TinySdxl);
        using var pipeline = new StableDiffusionXLPipeline(components.Vae, components.TextEncoder, new CLIPTextModelWithProjection(config),
            components.Tokenizer, components.Tokenizer2, components.Unet, SchedulerFactory.FromConfig("EulerDiscreteScheduler", components.Scheduler.Config));
        var e = Assert.Throws<InvalidOperationException>(() => pipeline.Generate(new StableDiffusionXLInput("x") { Height = 64, Width = 64, NumInferenceSteps = 1 }));
        Assert.Contains("length 72, but a vector of 64", e.Message);
        Assert.Contains("projection_dim (16)", e.Message);
    }

    [Fact]
    public void NonSdxlUNetIsRefused()
    {
        using var components = StableDiffusionXLPipeline.FromPretrained(TinySdxl);
        using var sd = Pipelines.StableDiffusion.StableDiffusionPipeline.FromPretrained(FixtureCase.PathOf("models/tiny-sd"));
        var e = Assert.Throws<ArgumentException>(() => new StableDiffusionXLPipeline(components.Vae, components.TextEncoder, components.TextEncoder2,
            components.Tokenizer, components.Tokenizer2, sd.Unet, components.Scheduler));
        Assert.Contains("text_time", e.Message);
    }

    // ---- diffuse generate with an SDXL folder ----

    [Fact]
    public void CliGeneratesDiffusersPictureFromAnSdxlFolder()
    {
        var output = Path.Combine(Directory.CreateTempSubdirectory("ds-cli-sdxl-").FullName, "xl.png");
        var (code, stdout, stderr) = CliTests.Diffuse("generate", "--model", TinySdxl, "--prompt", "A painting of a squirrel eating a burger",
            "--steps", "10", "--width", "64", "--height", "64", "--seed", "31", "--output", output);
        Assert.True(code == 0, stderr);
        Assert.Equal(output, stdout.Trim());
        using var fixture = FixtureCase.Load("pipelines/sdxl_txt2img_euler_seed31");
        using var written = ImageIO.LoadRgb(output);
        using var diff = (written.to(ScalarType.Int32) - fixture.Tensor("images_uint8")[0].to(ScalarType.Int32)).abs();
        Assert.True(diff.max().item<int>() <= 1, $"max pixel difference {diff.max().item<int>()}");
    }

    [Fact]
    public void CliPassesSdxlConditioning()
    {
        var dir = Directory.CreateTempSubdirectory("ds-cli-sdxl-").FullName;
        string[] common = ["generate", "--model", TinySdxl, "--prompt", "a lighthouse", "--steps", "2", "--width", "64", "--height", "64", "--seed", "4"];
        var (code, _, stderr) = CliTests.Diffuse([.. common, "--output", Path.Combine(dir, "plain.png")]);
        Assert.True(code == 0, stderr);
        (code, _, stderr) = CliTests.Diffuse([.. common, "--prompt-2", "ink", "--negative-prompt", "blur", "--negative-prompt-2", "photo",
            "--original-size", "128,128", "--target-size", "64,64", "--crops-coords-top-left", "8,0", "--output", Path.Combine(dir, "conditioned.png")]);
        Assert.True(code == 0, stderr);
        using var plain = ImageIO.LoadRgb(Path.Combine(dir, "plain.png"));
        using var conditioned = ImageIO.LoadRgb(Path.Combine(dir, "conditioned.png"));
        Assert.False(plain.eq(conditioned).all().item<bool>(), "the SDXL options must change the picture");
    }

    [Theory]
    [InlineData("--prompt-2", "b", "tiny-sd", "--prompt-2 only apply to SDXL models")]
    [InlineData("--original-size", "64,64", "tiny-sd", "--original-size only apply to SDXL models")]
    [InlineData("--crops-coords-top-left", "8", "tiny-sdxl", "--crops-coords-top-left takes TOP,LEFT")]
    [InlineData("--target-size", "64x64", "tiny-sdxl", "--target-size takes H,W")]
    public void CliRefusesBadSdxlOptions(string option, string value, string model, string expected)
    {
        var (code, _, stderr) = CliTests.Diffuse("generate", "--model", FixtureCase.PathOf("models/" + model), "--prompt", "x", "--steps", "1",
            option, value, "--output", Path.Combine(Path.GetTempPath(), "never.png"));
        Assert.NotEqual(0, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(expected, lines[0]);
    }

    [Fact]
    public void CliHelpExplainsSdxlOptions()
    {
        var (code, stdout, _) = CliTests.Diffuse("generate", "--help");
        Assert.Equal(0, code);
        foreach (var option in new[] { "--prompt-2", "--negative-prompt-2", "--original-size", "--target-size", "--crops-coords-top-left" })
            Assert.Contains(option, stdout);
    }
}
