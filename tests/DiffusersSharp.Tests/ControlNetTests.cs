using System.Text.Json.Nodes;
using DiffusersSharp.Images;
using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.ControlNet;
using DiffusersSharp.Runtime;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

public class ControlNetTests(ITestOutputHelper output)
{
    private static string TinySd => FixtureCase.PathOf("models/tiny-sd");
    private static string TinyControlNet => FixtureCase.PathOf("models/tiny-controlnet");
    private static string ControlImagePath => FixtureCase.PathOf("inputs/control_64x64.png");

    public static TheoryData<string> PipelineCases() => new(FixtureCase.List("pipelines", "controlnet_"));

    [Fact]
    public void ControlNetModelMatchesDiffusers()
    {
        using var fixture = FixtureCase.Load("components/tiny-controlnet_shared");
        using var noGrad = no_grad();
        using var controlnet = ControlNetModel.FromPretrained(fixture.ModelPath(fixture.Manifest["model"]!.GetValue<string>()));
        var call = fixture.Manifest["call"]!.AsObject();

        using var result = controlnet.Forward(fixture.Tensor("sample"), tensor(call["timestep"]!.GetValue<long>()),
            fixture.Tensor("encoder_hidden_states"), fixture.Tensor("controlnet_cond"),
            call["conditioning_scale"]!.GetValue<double>(), call["guess_mode"]!.GetValue<bool>());

        Assert.Equal(6, result.DownBlockResSamples.Count);
        for (var i = 0; i < result.DownBlockResSamples.Count; i++)
            AssertClose(fixture.Tensor($"down_block_res_sample_{i}"), result.DownBlockResSamples[i], 1e-4, $"down_block_res_sample_{i}");
        AssertClose(fixture.Tensor("mid_block_res_sample"), result.MidBlockResSample, 1e-4, "mid_block_res_sample");
    }

    [Fact]
    public void GuessModeScalesResidualsFromATenthToOneOnALogScale()
    {
        using var fixture = FixtureCase.Load("components/tiny-controlnet_shared");
        using var noGrad = no_grad();
        using var controlnet = ControlNetModel.FromPretrained(TinyControlNet);
        using var scope = NewDisposeScope();
        var (sample, t, context, cond) = (fixture.Tensor("sample"), tensor(500L), fixture.Tensor("encoder_hidden_states"), fixture.Tensor("controlnet_cond"));

        using var plain = controlnet.Forward(sample, t, context, cond);
        using var guess = controlnet.Forward(sample, t, context, cond, conditioningScale: 0.5, guessMode: true);

        var n = plain.DownBlockResSamples.Count;
        for (var i = 0; i < n; i++)
            TensorAssert.Close(plain.DownBlockResSamples[i] * (0.5 * Math.Pow(10, -1.0 + (double)i / n)), guess.DownBlockResSamples[i], 1e-6, $"down {i}");
        TensorAssert.Close(plain.MidBlockResSample * 0.5, guess.MidBlockResSample, 1e-6, "mid");
    }

    [Fact]
    public void ZeroConvolutionsMatter()
    {
        // The fixture's zero convolutions were perturbed; with them truly zero every residual vanishes.
        using var fixture = FixtureCase.Load("components/tiny-controlnet_shared");
        using var noGrad = no_grad();
        using var controlnet = ControlNetModel.FromPretrained(TinyControlNet);
        foreach (var (name, p) in controlnet.named_parameters())
            if (name.StartsWith("controlnet_down_blocks.") || name.StartsWith("controlnet_mid_block."))
                p.zero_();
        using var result = controlnet.Forward(fixture.Tensor("sample"), tensor(500L), fixture.Tensor("encoder_hidden_states"), fixture.Tensor("controlnet_cond"));
        Assert.All(result.DownBlockResSamples, r => Assert.Equal(0.0, r.abs().max().item<float>()));
        Assert.Equal(0.0, result.MidBlockResSample.abs().max().item<float>());
    }

    [Fact]
    public void ControlNetModelSaveAndReloadGivesIdenticalResiduals()
    {
        using var fixture = FixtureCase.Load("components/tiny-controlnet_shared");
        using var noGrad = no_grad();
        var dir = Directory.CreateTempSubdirectory("ds-controlnet-").FullName;
        try
        {
            using var original = ControlNetModel.FromPretrained(TinyControlNet);
            original.SavePretrained(dir);
            using var reloaded = ControlNetModel.FromPretrained(dir);
            Assert.Equal("ControlNetModel", ModelConfig.Load(Path.Combine(dir, "config.json")).ClassName);
            var args = (fixture.Tensor("sample"), tensor(500L), fixture.Tensor("encoder_hidden_states"), fixture.Tensor("controlnet_cond"));
            using var a = original.Forward(args.Item1, args.Item2, args.Item3, args.Item4);
            using var b = reloaded.Forward(args.Item1, args.Item2, args.Item3, args.Item4);
            TensorAssert.Equal(a.MidBlockResSample, b.MidBlockResSample, "mid");
            for (var i = 0; i < a.DownBlockResSamples.Count; i++)
                TensorAssert.Equal(a.DownBlockResSamples[i], b.DownBlockResSamples[i], $"down {i}");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("addition_embed_type", "\"text_time\"")]
    [InlineData("class_embed_type", "\"timestep\"")]
    [InlineData("encoder_hid_dim_type", "\"text_proj\"")]
    [InlineData("controlnet_conditioning_channel_order", "\"rgba\"")]
    [InlineData("mid_block_type", "null")]
    [InlineData("down_block_types", "[\"SimpleCrossAttnDownBlock2D\", \"DownBlock2D\"]")]
    [InlineData("cross_attention_dim", "[32, 32]")]
    [InlineData("resnet_time_scale_shift", "\"spatial\"")]
    public void ControlNetModelRefusesUnsupportedConfigByName(string key, string json)
    {
        NativeRuntime.EnsureLoaded();
        var config = ModelConfig.Load(Path.Combine(TinyControlNet, "config.json"));
        config[key] = JsonNode.Parse(json);
        var e = Assert.Throws<NotSupportedException>(() => new ControlNetModel(config).Dispose());
        Assert.Contains(key, e.Message);
        Assert.Contains(json.Replace(" ", ""), e.Message.Replace(" ", ""));
    }

    /// <summary>Builds the pipeline call a fixture manifest describes, scheduler swap included.</summary>
    private static (StableDiffusionControlNetPipeline Pipeline, StableDiffusionControlNetInput Input) FromManifest(FixtureCase fixture)
    {
        var m = fixture.Manifest;
        var pipeline = StableDiffusionControlNetPipeline.FromPretrained(fixture.ModelPath(m["model"]!.GetValue<string>()),
            [fixture.ModelPath(m["extra_models"]!["controlnet"]!.GetValue<string>())]);
        PipelineFixture.SwapScheduler(fixture, pipeline);

        var call = m["call"]!.AsObject();
        Assert.StartsWith("png:", call["image"]!.GetValue<string>());
        var input = PipelineFixture.WithCommonArguments(fixture, new StableDiffusionControlNetInput
        {
            ControlImages = [[PipelineFixture.PngArgument(fixture, "image")]],
            Height = call["height"]?.GetValue<int>(),
            Width = call["width"]?.GetValue<int>(),
            ControlNetConditioningScale = [call["controlnet_conditioning_scale"]?.GetValue<double>() ?? 1.0],
            ControlGuidanceStart = [call["control_guidance_start"]?.GetValue<double>() ?? 0.0],
            ControlGuidanceEnd = [call["control_guidance_end"]?.GetValue<double>() ?? 1.0],
            GuessMode = call["guess_mode"]?.GetValue<bool>() ?? false,
            Latents = PipelineFixture.TensorArgument(fixture, "latents"),
        });
        return (pipeline, input);
    }

    [Theory]
    [MemberData(nameof(PipelineCases))]
    public void PipelineMatchesDiffusers(string caseName)
    {
        using var fixture = FixtureCase.Load(caseName);
        var (pipeline, input) = FromManifest(fixture);
        using var _ = pipeline;
        using var controlImage = input.ControlImages[0][0];

        var expectedSteps = fixture.Tensor("step_prev_sample");
        var seen = 0;
        var worstStep = 0.0;
        using var result = pipeline.Generate(input with
        {
            CallbackOnStepEnd = args =>
            {
                using (var d = (expectedSteps[args.Step] - args.Latents).abs().max()) worstStep = Math.Max(worstStep, d.item<float>());
                TensorAssert.Close(expectedSteps[args.Step], args.Latents, 1e-4, $"latents after step {args.Step}");
                seen++;
            },
        });
        Assert.Equal(expectedSteps.shape[0], seen);
        output.WriteLine($"{caseName}: per-step latents max |diff| {worstStep:G3}");
        AssertClose(fixture.Tensor("images"), result.Images!, 1.0 / 255, "images", absolute: true);

        using var latents = pipeline.Generate(input with { OutputType = OutputType.Latent });
        AssertClose(fixture.Tensor("latents_out"), latents.Latents!, 1e-4, "latents_out");
    }

    [Fact]
    public void TwoControlNetsWithScalesAAndBEqualOneWithScaleAPlusB()
    {
        // The nets' residuals are summed and each is linear in its scale, so copies at a and b act as one net at a + b.
        using var image = ImageIO.LoadRgb(ControlImagePath);
        using var twice = StableDiffusionControlNetPipeline.FromPretrained(TinySd, [TinyControlNet, TinyControlNet]);
        using var once = StableDiffusionControlNetPipeline.FromPretrained(TinySd, [TinyControlNet]);
        Assert.IsType<MultiControlNetModel>(twice.Components["controlnet"]);
        var input = new StableDiffusionControlNetInput
        {
            Prompt = ["a house"],
            ControlImages = [[image], [image]],
            ControlNetConditioningScale = [0.3, 0.9],
            NumInferenceSteps = 3,
            Seed = 7,
            OutputType = OutputType.Latent,
        };

        using var two = twice.Generate(input);
        using var one = once.Generate(input with { ControlImages = [[image]], ControlNetConditioningScale = [1.2] });
        using var none = once.Generate(input with { ControlImages = [[image]], ControlNetConditioningScale = [0.0] });

        TensorAssert.Close(one.Latents!, two.Latents!, 1e-4, "scales 0.3 + 0.9 against 1.2");
        // … and the control really moves the result, so the equality above is not trivial.
        Assert.True((one.Latents! - none.Latents!).abs().max().item<float>() > 1e-2);
    }

    [Fact]
    public void AGuidanceWindowThatHoldsNoWholeStepTurnsTheControlNetOff()
    {
        // diffusers keeps a net at step i of T only when [i/T, (i+1)/T] lies inside [start, end]; PNDM's 4 steps are
        // T = 5 timesteps, so the window [0.5, 0.6] holds none and the net acts at scale 0 throughout.
        using var image = ImageIO.LoadRgb(ControlImagePath);
        using var pipeline = StableDiffusionControlNetPipeline.FromPretrained(TinySd, [TinyControlNet]);
        var input = new StableDiffusionControlNetInput
        {
            Prompt = ["a house"],
            ControlImages = [[image]],
            NumInferenceSteps = 4,
            Seed = 3,
            OutputType = OutputType.Latent,
        };
        using var windowed = pipeline.Generate(input with { ControlGuidanceStart = [0.5], ControlGuidanceEnd = [0.6] });
        using var off = pipeline.Generate(input with { ControlNetConditioningScale = [0.0] });
        using var on = pipeline.Generate(input);
        TensorAssert.Equal(off.Latents!, windowed.Latents!, "window [0.5, 0.6] over 5 PNDM timesteps");
        Assert.True((on.Latents! - off.Latents!).abs().max().item<float>() > 1e-2);
    }

    [Fact]
    public void GuessModeAndImagesPerPromptRun()
    {
        using var image = ImageIO.LoadRgb(ControlImagePath);
        using var pipeline = StableDiffusionControlNetPipeline.FromPretrained(TinySd, [TinyControlNet]);
        using var result = pipeline.Generate(new StableDiffusionControlNetInput
        {
            Prompt = ["a house", "a tree"],
            ControlImages = [[image]],
            NumImagesPerPrompt = 2,
            GuessMode = true,
            GuidanceScale = 4,
            NumInferenceSteps = 2,
            Seed = 1,
        });
        Assert.Equal([4L, 64, 64, 3], result.Images!.shape);
        Assert.False(result.Images.isnan().any().item<bool>());
    }

    [Fact]
    public void SavedMultiControlNetPipelineReopensWithDiffusersLayout()
    {
        var dir = Directory.CreateTempSubdirectory("ds-controlnet-pipe-").FullName;
        try
        {
            using (var pipeline = StableDiffusionControlNetPipeline.FromPretrained(TinySd, [TinyControlNet, TinyControlNet]))
                pipeline.SavePretrained(dir);
            var index = ModelConfig.Load(Path.Combine(dir, "model_index.json"));
            Assert.Equal("StableDiffusionControlNetPipeline", index.ClassName);
            Assert.Equal("MultiControlNetModel", index["controlnet"]![1]!.GetValue<string>());
            Assert.True(File.Exists(Path.Combine(dir, "controlnet", "config.json")));
            Assert.True(File.Exists(Path.Combine(dir, "controlnet_1", "config.json")));

            using var reopened = DiffusionPipeline.FromPretrained(dir);
            var controlNet = Assert.IsType<StableDiffusionControlNetPipeline>(reopened);
            Assert.Equal(2, controlNet.ControlNets.Count);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void BadControlNetInputsAreNamed()
    {
        using var image = ImageIO.LoadRgb(ControlImagePath);
        using var pipeline = StableDiffusionControlNetPipeline.FromPretrained(TinySd, [TinyControlNet]);
        var input = new StableDiffusionControlNetInput { Prompt = ["x"], ControlImages = [[image]], NumInferenceSteps = 1 };

        Assert.Contains("one entry per ControlNet", Assert.Throws<ArgumentException>(() => pipeline.Generate(input with { ControlImages = [[image], [image]] })).Message);
        Assert.Contains("controlnet_conditioning_scale", Assert.Throws<ArgumentException>(() => pipeline.Generate(input with { ControlNetConditioningScale = [1, 2] })).Message);
        Assert.Contains("cannot be larger or equal", Assert.Throws<ArgumentException>(() => pipeline.Generate(input with { ControlGuidanceStart = [0.5], ControlGuidanceEnd = [0.5] })).Message);
        Assert.Contains("larger than 1.0", Assert.Throws<ArgumentException>(() => pipeline.Generate(input with { ControlGuidanceEnd = [1.5] })).Message);
        Assert.Contains("2 control images for 1 prompts", Assert.Throws<ArgumentException>(() => pipeline.Generate(input with { ControlImages = [[image, image]] })).Message);
        Assert.Contains("divisible by 8", Assert.Throws<ArgumentException>(() => pipeline.Generate(input with { Width = 60 })).Message);
    }

    [Fact]
    public void CancellationStopsTheLoop()
    {
        using var image = ImageIO.LoadRgb(ControlImagePath);
        using var pipeline = StableDiffusionControlNetPipeline.FromPretrained(TinySd, [TinyControlNet]);
        using var cancel = new CancellationTokenSource();
        var steps = 0;
        var input = new StableDiffusionControlNetInput
        {
            Prompt = ["x"],
            ControlImages = [[image]],
            NumInferenceSteps = 5,
            CallbackOnStepEnd = _ => { if (++steps == 2) cancel.Cancel(); },
        };
        Assert.Throws<OperationCanceledException>(() => pipeline.Generate(input, cancel.Token));
        Assert.Equal(2, steps);
    }

    private void AssertClose(Tensor expected, Tensor actual, double tolerance, string what, bool absolute = false)
    {
        using (var diff = (expected - actual).abs().max())
            output.WriteLine($"{what}: max |diff| {diff.item<float>():G3}");
        if (absolute) TensorAssert.CloseAbsolute(expected, actual, tolerance, what);
        else TensorAssert.Close(expected, actual, tolerance, what);
    }
}
